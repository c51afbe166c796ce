"""RLEM update math against hand-computed cases, and convergence on the corridor MDP."""

from __future__ import annotations

import random

import pytest

from rememberer.memory import (
    ActionValue,
    Episode,
    ExperienceRecord,
    InMemoryTable,
    RLEMConfig,
    Transition,
    discounted_returns,
    n_step_target,
)
from rememberer.tasks.chain import ACTIONS, CorridorEnv, optimal_q

T = "task"


def ep(rewards, *, eid="e1", terminal=True, final="end", obs=None, actions=None):
    obs = obs or [f"o{t}" for t in range(len(rewards))]
    actions = actions or [f"a{t}" for t in range(len(rewards))]
    trs = tuple(Transition(T, o, a, r, action_history=tuple(actions[:i])) for i, (o, a, r) in enumerate(zip(obs, actions, rewards)))
    return Episode(eid, trs, final_observation=final, terminal=terminal)


def test_discounted_returns_by_hand():
    assert discounted_returns([0, 0, 1], 1.0) == [1, 1, 1]
    assert discounted_returns([0, 0, 1], 0.9) == pytest.approx([0.81, 0.9, 1.0])
    assert discounted_returns([1, 0, 2], 0.5) == pytest.approx([1 + 0 + 0.5, 0 + 1.0, 2.0])


def test_n_step_target_by_hand():
    # r = [0, 1, 0, 5]; t=0, n=2: 0 + 0.9*1 + 0.81*V
    assert n_step_target([0, 1, 0, 5], 0, 2, 0.9, 2.0) == pytest.approx(0.9 + 0.81 * 2.0)
    # window past the end, no bootstrap: truncated return
    assert n_step_target([0, 1, 0, 5], 2, 3, 0.9, None) == pytest.approx(0 + 0.9 * 5)


def test_monte_carlo_default_gives_every_step_the_final_score():
    table = InMemoryTable()
    plan = table.apply(ep([0, 0, 0.75]), RLEMConfig())
    assert plan.targets == [0.75, 0.75, 0.75]
    for t in range(3):
        assert table.q(T, f"o{t}", f"a{t}") == 0.75  # first update: α = 1 → Q = target


def test_mean_mode_counts_the_annotated_sample():
    table = InMemoryTable()
    seed = ExperienceRecord(task=T, observation="o0", actions=[ActionValue(action="a0", q=1.0, visits=1)])
    table.records[seed.id] = seed
    table.apply(ep([0.0], eid="x"), RLEMConfig())
    assert table.q(T, "o0", "a0") == pytest.approx(0.5)  # (1 + 0) / 2
    table.apply(ep([0.0], eid="y"), RLEMConfig())
    assert table.q(T, "o0", "a0") == pytest.approx(1 / 3)


def test_const_mode_steps_from_zero():
    table = InMemoryTable()
    config = RLEMConfig(update_mode="const", learning_rate=0.1)
    table.apply(ep([1.0], eid="x"), config)
    assert table.q(T, "o0", "a0") == pytest.approx(0.1)
    table.apply(ep([1.0], eid="y"), config)
    assert table.q(T, "o0", "a0") == pytest.approx(0.19)


def test_gamma_below_one_discounts_mc_targets():
    table = InMemoryTable()
    table.apply(ep([0, 0, 1]), RLEMConfig(gamma=0.9))
    assert table.q(T, "o0", "a0") == pytest.approx(0.81)
    assert table.q(T, "o1", "a1") == pytest.approx(0.9)


def test_one_step_bootstraps_from_the_exact_next_key_before_its_update():
    table = InMemoryTable()
    old = ExperienceRecord(task=T, observation="o1", actions=[ActionValue(action="z", q=0.5, visits=1)])
    table.records[old.id] = old
    plan = table.apply(ep([0, 1]), RLEMConfig(gamma=0.9, n_step=1))
    # t=0 reads V(o1) = 0.5 as it was; t=1 is the terminal step: target = r = 1
    assert plan.targets == pytest.approx([0.45, 1.0])
    assert plan.bootstraps["exact"] == 1


def test_n_step_falls_back_to_the_most_similar_record():
    table = InMemoryTable(similarity=lambda q, k: 1.0 if k[1] == "near-o1" else 0.0)
    near = ExperienceRecord(task=T, observation="near-o1", actions=[ActionValue(action="z", q=0.8, visits=1)])
    table.records[near.id] = near
    plan = table.apply(ep([0, 0]), RLEMConfig(gamma=1.0, n_step=1))
    assert plan.targets[0] == pytest.approx(0.8)
    assert plan.bootstraps["similar"] >= 1


def test_step_cap_cut_bootstraps_the_final_state():
    table = InMemoryTable()
    final = ExperienceRecord(task=T, observation="end", actions=[ActionValue(action="z", q=1.0, visits=1)])
    table.records[final.id] = final
    plan = table.apply(ep([0, 0], terminal=False), RLEMConfig(gamma=0.5, n_step=2))
    assert plan.targets == pytest.approx([0.25, 0.5])
    mc = InMemoryTable()
    assert mc.apply(ep([0, 0], terminal=False), RLEMConfig()).targets == [0, 0]  # MC never bootstraps


def test_reapplying_an_episode_changes_nothing():
    table = InMemoryTable()
    table.apply(ep([0, 1], eid="same"), RLEMConfig())
    before = {rid: r.model_dump() for rid, r in table.records.items()}
    plan = table.apply(ep([0, 1], eid="same"), RLEMConfig())
    assert plan.skipped == 2
    assert {rid: r.model_dump() for rid, r in table.records.items()} == before


def test_repeated_state_within_an_episode_updates_twice():
    table = InMemoryTable()
    table.apply(ep([0, 0, 1], obs=["s", "s", "t"], actions=["bad", "good", "win"]), RLEMConfig())
    record = table.records[next(r for r in table.records if table.records[r].observation == "s")]
    assert record.visits == 2
    assert {a.action for a in record.actions} == {"bad", "good"}
    assert record.action_history == []  # "shortest" history kept


def test_action_capacity_prunes_least_visited_but_never_the_new_action():
    table = InMemoryTable()
    config = RLEMConfig(max_actions=2)
    table.apply(ep([1.0], eid="1", actions=["x"]), config)
    table.apply(ep([1.0], eid="2", actions=["x"]), config)
    table.apply(ep([0.0], eid="3", actions=["y"]), config)
    table.apply(ep([0.5], eid="4", actions=["z"]), config)
    record = next(iter(table.records.values()))
    assert sorted(a.action for a in record.actions) == ["x", "z"]


@pytest.mark.parametrize("bad", [dict(gamma=1.5), dict(update_mode="median"), dict(n_step=0), dict(update_mode="const", learning_rate=0)])
def test_config_rejects_nonsense(bad):
    with pytest.raises(ValueError):
        RLEMConfig(**bad)


def _random_walks(table, config, episodes, length, seed=0):
    rng, env = random.Random(seed), CorridorEnv()
    for i in range(episodes):
        obs, trs = env.reset(f"corridor-{length}"), []
        for _ in range(12):
            action = rng.choice(ACTIONS)
            nxt = env.step(action)
            trs.append(Transition(obs.task, obs.observation, action, nxt.reward))
            obs = nxt
            if nxt.done:
                break
        table.apply(Episode(f"walk-{i}", tuple(trs), final_observation=obs.observation, terminal=obs.done), config)
    return obs.task


def _max_error(table, task, length, gamma):
    return max(
        abs(table.q(task, f"You are in cell {p + 1} of {length}.", a) - optimal_q(p, a, length, gamma))
        for p in range(length - 1)
        for a in ACTIONS
    )


def test_one_step_q_learning_converges_to_optimal_q():
    table = InMemoryTable()
    task = _random_walks(table, RLEMConfig(gamma=0.9, update_mode="const", learning_rate=0.3, n_step=1), 300, 5)
    assert _max_error(table, task, 5, 0.9) < 1e-3


def test_sample_average_q_learning_converges_too_if_slower():
    table = InMemoryTable()
    config = RLEMConfig(gamma=0.9, update_mode="mean", n_step=1)
    task = _random_walks(table, config, 200, 4)
    early = _max_error(table, task, 4, 0.9)
    _random_walks(table, config, 800, 4, seed=1)
    late = _max_error(table, task, 4, 0.9)
    assert late < early and late < 0.1
