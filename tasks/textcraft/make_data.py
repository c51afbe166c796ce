"""Regenerate ``goals.json`` (the pinned goal list and splits) and ``pool.json`` (the
annotated initial experience). Run from the repository root:

    python -m rememberer.tasks.textcraft.make_data

Both files are checked in; this script documents how they were made and keeps them in step
with the environment's rendering.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from .env import TextCraftEnv, all_goals, item_id, name_of, recipes_for, shared_world
from .oracle import solve

HERE = Path(__file__).parent
SPLIT_SEED = 2023
TEST_SIZE = 100
TRAIN_SIZE = 10
MAX_ORACLE_STEPS = 12  # splits keep goals the 15-step cap leaves room to solve with mistakes


def make_goals() -> dict:
    solvable, unsolvable, too_long = [], [], []
    depth, oracle_steps = {}, {}
    for goal, d in all_goals():
        name = name_of(goal)
        depth[name] = d
        ok, actions = solve(name)
        oracle_steps[name] = len(actions)
        if not ok:
            unsolvable.append(name)
        elif len(actions) > MAX_ORACLE_STEPS:
            too_long.append(name)
        else:
            solvable.append(name)
    order = sorted(solvable)
    random.Random(SPLIT_SEED).shuffle(order)
    test, train, pool = order[:TEST_SIZE], order[TEST_SIZE : TEST_SIZE + TRAIN_SIZE], order[TEST_SIZE + TRAIN_SIZE :]
    return {
        "description": (
            "TextCraft goals: every item of crafting depth >= 2 in textcraft 0.0.3 (recipes loaded in "
            f"sorted order) that the scripted oracle solves in at most {MAX_ORACLE_STEPS} steps (so the "
            f"15-step cap leaves room for mistakes), shuffled with seed {SPLIT_SEED}. test = the "
            f"first {TEST_SIZE}, train = the next {TRAIN_SIZE} (the paper's 10 training goals), "
            "train_pool = the rest. No goal is in two splits."
        ),
        "unsolvable": unsolvable,
        "longer_than_cap": too_long,
        "depth": depth,
        "oracle_steps": oracle_steps,
        "splits": {"train": train, "test": test, "train_pool": pool},
    }


def _useless_get(goal: str, valid_actions) -> str | None:
    """A valid ``get`` of an item outside the goal's recipe tree (a distractor), if any."""
    tree_items = {
        name_of(ing.item_tag.name)
        for recipe in recipes_for(shared_world().crafting_tree, item_id(goal))
        for ing in recipe.input_items
    }
    return next((a for a in valid_actions if a.startswith("get") and a.split(" ", 2)[2] not in tree_items), None)


def make_pool(train_goals: list[str]) -> dict:
    """One annotated successful trajectory: the shortest training goal whose first state also
    offers a distractor ingredient, which becomes the discouraged example."""
    candidates = sorted(train_goals, key=lambda g: (len(solve(g)[1]), g))
    goal = next(g for g in candidates if _useless_get(g, TextCraftEnv().reset(g).valid_actions))
    actions = solve(goal)[1]
    env = TextCraftEnv()
    obs = env.reset(goal)
    records = []
    for i, action in enumerate(actions):
        verb = action.split()[0]
        reason = (
            "It is a base ingredient of a recipe on the way to the goal."
            if verb == "get"
            else "I hold the ingredients, and this item is needed for the goal."
        )
        record = {
            "task": obs.task,
            "observation": obs.observation,
            "action_history": actions[:i],
            "valid_actions": list(obs.valid_actions or ()),
            "actions": [{"action": action, "reason": reason, "q": 1.0, "visits": 1, "mean_reward": 0.0}],
        }
        if i == 0:
            useless = _useless_get(goal, obs.valid_actions)
            record["actions"].append(
                {"action": useless, "reason": "This ingredient is not used by the goal's recipes.", "q": 0.0, "visits": 1}
            )
        records.append(record)
        obs = env.step(action)
    assert obs.success, goal
    records[-1]["actions"][0]["mean_reward"] = 1.0
    return {
        "format": "rememberer-pool/1",
        "task_set": "textcraft",
        "description": f"One annotated successful trajectory (goal: {goal}), Q = 1.0 on its actions, "
        "plus one useless action valued 0.0 as a discouraged example.",
        "records": records,
    }


def main() -> None:
    goals = make_goals()
    (HERE / "goals.json").write_text(json.dumps(goals, indent=1) + "\n", encoding="utf-8")
    pool = make_pool(goals["splits"]["train"])
    (HERE / "pool.json").write_text(json.dumps(pool, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{len(goals['splits']['test'])} test, {len(goals['splits']['train'])} train, "
          f"{len(goals['splits']['train_pool'])} pool goals ({len(goals['longer_than_cap'])} left out as too long); "
          f"pool has {len(pool['records'])} records")


if __name__ == "__main__":
    main()
