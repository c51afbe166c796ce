"""Goals, splits and the task-set contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from rememberer.tasks.base import TaskError, TaskSet
from rememberer.tasks.webshop import load_task_set
from rememberer.tasks.webshop.catalog import ENV_VAR, load_catalog, resolve_data_dir
from rememberer.tasks.webshop.goals import build_goals, make_splits


def test_upstream_goal_counts(catalog, goals):
    assert len(catalog.products) == 1000
    synthetic = [g for g in goals.values() if g.kind == "synthetic"]
    human = [g for g in goals.values() if g.kind == "human"]
    assert len(synthetic) == 6910  # upstream README: "Loaded 6910 goals."
    assert len(human) == 13
    assert [g.goal_id for g in synthetic[:3]] == ["0", "1", "2"]
    assert human[0].goal_id == "h0"


def test_goal_text_follows_upstream_template(goals, catalog):
    goal = goals["1"]
    product = catalog.by_asin[goal.asin]
    instruction = catalog.annotations[goal.asin]["instruction"]
    options = ", and ".join(f"{k}: {v}" for k, v in goal.goal_options.items())
    assert goal.instruction_text == f"{instruction} with {options}, and price lower than {goal.price_upper:.2f} dollars"
    assert goal.name == product["Title"]
    assert sorted(goal.goal_options) == list(goal.goal_options)  # option names sorted
    for g in goals.values():
        price = catalog.prices(233)[g.asin]
        if g.price_upper < 1e6:
            assert g.price_upper > price and g.price_upper % 10 == 0
            assert g.price_upper <= [p for p in range(10, 1000, 10) if p > price][:4][-1]


def test_seed_fixes_price_limits_but_not_the_order(catalog):
    a = build_goals(catalog, 233)
    b = build_goals(catalog, 233)
    c = build_goals(catalog, 7)
    assert [g.instruction_text for g in a.values()] == [g.instruction_text for g in b.values()]
    assert [g.asin for g in a.values()] == [g.asin for g in c.values()]  # order: seed 233 shuffle
    assert any(x.price_upper != y.price_upper for x, y in zip(a.values(), c.values()))


def test_splits_are_documented_and_disjoint(goals):
    splits = make_splits(goals)
    assert splits["test"] == tuple(str(i) for i in range(100))
    assert splits["test_large"] == tuple(str(i) for i in range(500))
    assert len(splits["train"]) == len(splits["train_s1"]) == 10
    assert len(splits["human"]) == 13
    train = set(splits["train"]) | set(splits["train_s1"])
    assert not train & set(splits["test_large"])
    assert all(int(g) >= 500 for g in train)
    # training goals never show a test product, and use ten different products each
    test_products = {goals[g].asin for g in splits["test_large"]}
    train_products = [goals[g].asin for g in splits["train"] + splits["train_s1"]]
    assert not test_products & set(train_products)
    assert len(set(train_products)) == 20


def test_load_task_set_contract(data_dir):
    ts = load_task_set(data_dir)
    assert isinstance(ts, TaskSet)
    assert ts.name == "webshop"
    assert ts.max_steps == 15
    assert ts.task_weight == 0.5
    assert ts.success_threshold == 1.0
    assert ts.initial_pool is not None and ts.initial_pool.name == "pool_E0.json" and ts.initial_pool.is_file()
    assert "search[" in ts.action_hint and "click[" in ts.action_hint
    assert "search[keywords]" in ts.preamble and "click[element]" in ts.preamble
    assert ts.metadata["seed"] == "233"
    assert {"train", "train_s1", "test", "test_large", "human"} <= set(ts.splits)
    env_a, env_b = ts.make_env(), ts.make_env()
    assert env_a is not env_b
    assert env_a.catalog is env_b.catalog and env_a.catalog.index is env_b.catalog.index
    assert load_task_set(data_dir, pool="E2").initial_pool.name == "pool_E2.json"
    only = load_task_set(data_dir, split="test")
    assert set(only.splits) == {"test", "train"}
    with pytest.raises(TaskError):
        load_task_set(data_dir, pool="E9")
    with pytest.raises(TaskError):
        ts.goals("nope")


def test_missing_data_dir_is_a_one_line_task_error(tmp_path, monkeypatch):
    with pytest.raises(TaskError) as info:
        load_task_set(tmp_path / "nowhere")
    message = str(info.value)
    assert "\n" not in message and "nowhere" in message and ENV_VAR in message and "--webshop-data" in message
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(TaskError, match=ENV_VAR):
        resolve_data_dir()


def test_environment_variable_points_at_the_data(data_dir, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(data_dir))
    assert resolve_data_dir() == Path(data_dir).resolve()
    assert load_catalog() is load_catalog(data_dir)  # cached per directory
