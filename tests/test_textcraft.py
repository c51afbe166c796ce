"""TextCraft adapter on the real textcraft package: determinism, validity, splits, oracle."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rememberer.tasks import load_task_set
from rememberer.tasks.textcraft import inventory_similarity
from rememberer.tasks.textcraft.env import TextCraftEnv, all_goals, name_of
from rememberer.tasks.textcraft.oracle import solve


@pytest.fixture(scope="module")
def textcraft():
    return load_task_set("textcraft")


def test_goal_pool_and_splits(textcraft):
    assert len(all_goals()) == 419  # every item of crafting depth >= 2
    assert (len(textcraft.goals("train")), len(textcraft.goals("test"))) == (10, 100)
    train, test, pool = (set(textcraft.goals(s)) for s in ("train", "test", "train_pool"))
    assert not (train & test) and not (pool & test) and not (pool & train)
    data = json.loads((textcraft.initial_pool.parent / "goals.json").read_text())
    assert data["unsolvable"] == ["crossbow"]
    assert len(train | test | pool) + len(data["longer_than_cap"]) == 418  # every solvable goal is accounted for
    assert all(data["oracle_steps"][g] <= 12 for g in train | test | pool)


def test_resets_do_not_leak_state_between_episodes():
    env = TextCraftEnv()
    first = env.reset("chest")
    for goal in ["lectern", "cyan banner", "stone sword", "chest", "bone block"] * 5:
        env.reset(goal)
        env.step("get 1 oak logs")
    again = env.reset("chest")
    assert (again.context, again.observation, again.valid_actions) == (first.context, first.observation, first.valid_actions)


def test_rendering_is_identical_across_processes():
    code = (
        "from rememberer.tasks.textcraft.env import TextCraftEnv;"
        "o = TextCraftEnv().reset('lectern'); print(o.context); print(o.valid_actions)"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONHASHSEED": seed, "PATH": ""}, check=True).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1


def test_valid_actions_follow_the_inventory():
    env = TextCraftEnv()
    obs = env.reset("stone brick wall")
    assert obs.task == "Goal: craft stone brick wall." and obs.observation == "Inventory: empty"
    assert "get 4 stone" in obs.valid_actions and not any(a.startswith("craft") for a in obs.valid_actions)
    obs = env.step("get 4 stone")
    assert obs.feedback == "Got 4 stone" and obs.observation == "Inventory: [stone] (4)"
    assert "craft 4 stone bricks using 4 stone" in obs.valid_actions
    bad = env.step("get 1 stone bricks")
    assert bad.reward == 0 and "Could not find" in bad.feedback and bad.observation == obs.observation


def test_tags_resolve_to_the_items_held():
    env = TextCraftEnv()
    env.reset("chest")
    for _ in range(2):
        env.step("get 1 oak logs")
        obs = env.step("craft 4 oak planks using 1 oak logs")
    assert "craft 1 chest using 8 oak planks" in obs.valid_actions
    final = env.step("craft 1 chest using 8 oak planks")
    assert final.done and final.success and final.reward == 1.0


def test_unknown_goal_is_a_task_error():
    from rememberer.tasks import TaskError

    with pytest.raises(TaskError, match="unknown TextCraft goal"):
        TextCraftEnv().reset("golden unicorn")


def test_oracle_solves_the_test_goals_with_listed_actions(textcraft):
    for goal in textcraft.goals("test"):
        success, actions = solve(goal)
        assert success, goal
        env = TextCraftEnv()
        obs = env.reset(goal)
        for action in actions:
            assert action in obs.valid_actions, (goal, action)
            obs = env.step(action)


def test_initial_pool_replays_in_the_environment(textcraft):
    pool = json.loads(textcraft.initial_pool.read_text())
    env = TextCraftEnv()
    goal = pool["records"][0]["task"].removeprefix("Goal: craft ").rstrip(".")
    obs = env.reset(goal)
    assert goal in textcraft.goals("train")
    for record in pool["records"]:
        assert (record["task"], record["observation"]) == (obs.task, obs.observation)
        best = max(record["actions"], key=lambda a: a["q"])
        assert best["action"] in obs.valid_actions
        obs = env.step(best["action"])
    assert obs.success


def test_inventory_similarity():
    assert inventory_similarity("Inventory: empty", "Inventory: empty") == 1.0
    assert inventory_similarity("Inventory: [stone] (4)", "Inventory: [stone] (8)") == 1.0
    assert inventory_similarity("Inventory: [stone] (4)", "Inventory: [stone] (4), [stick] (2)") == 0.5
    assert inventory_similarity("Inventory: [stone] (4)", "Inventory: empty") == 0.0
