"""Pin ScienceWorld's variation splits and build the initial exemplar pool from gold paths.

    python -m rememberer.tasks.scienceworld.make_data [--check]

Writes ``variations.json`` (the package's own train/dev/test variation lists for all 30 task
types, and the task types of the transfer experiment) and ``pool.json`` (annotated gold
trajectories of training variations, with the trajectories themselves). ``--check`` regenerates
the variations and replays the stored trajectories (gold paths are not reproducible across JVM
runs) and exits non-zero if anything differs. Needs Java and the ``scienceworld`` extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).parent
TRANSFER_TASKS = (
    "find-animal",
    "find-non-living-thing",
    "lifespan-longest-lived",
    "chemistry-mix-paint-secondary-color",
)
"""Task types of the transfer experiment: short gold paths (4-17 steps), many variations."""
POOL_VARIATIONS_PER_TASK = 1
"""Gold trajectories per transfer task type in the initial pool (the first training variation)."""


def build_variations() -> dict:
    from importlib.metadata import version

    from .env import engine

    eng = engine()
    tasks: dict[str, dict[str, list[int]]] = {}
    for name in eng.env.get_task_names():
        eng.env.load(name, 0, "")
        tasks[name] = {
            "train": list(eng.env.get_variations_train()),
            "dev": list(eng.env.get_variations_dev()),
            "test": list(eng.env.get_variations_test()),
        }
    eng.owner = None
    return {
        "source": f"scienceworld {version('scienceworld')}: get_variations_train/dev/test() per task type",
        "transfer_tasks": list(TRANSFER_TASKS),
        "tasks": tasks,
    }


def build_pool(variations: dict, trajectories: dict[str, list[str]] | None = None) -> dict:
    """Annotated records from gold trajectories of training variations.

    ``trajectories`` (goal -> actions) replays stored paths instead of asking the simulator for
    gold paths: ScienceWorld's gold-path generator is not reproducible across JVM runs (measured:
    ``find-non-living-thing:0`` picks different objects in different runs), so ``--check``
    replays the trajectories stored in ``pool.json`` and verifies they still reach 100 and yield
    the same records.
    """
    from ..base import TaskError
    from .env import ScienceWorldTaskEnv

    env = ScienceWorldTaskEnv(step_cap=10**6)
    records: list[dict] = []
    by_key: dict[tuple[str, str], dict] = {}
    goals = []
    stored: dict[str, list[str]] = {}
    for task in variations["transfer_tasks"]:
        for variation in variations["tasks"][task]["train"][:POOL_VARIATIONS_PER_TASK]:
            goal = f"{task}:{variation}"
            if trajectories is not None:
                if goal not in trajectories:
                    raise TaskError(f"pool.json has no stored trajectory for {goal}")
                gold = list(trajectories[goal])
            else:
                env.reset(goal)
                gold = env.gold_actions()
            obs = env.reset(goal)
            played: list[str] = []
            history: list[str] = []
            for action in gold:
                before = env.score
                state, past = obs, list(history)
                obs = env.step(action)
                history.append(action)
                played.append(action)
                key = (state.task, state.observation)
                entry = {
                    "action": action,
                    "reason": "The next step of the simulator's gold path for this task type.",
                    # Monte-Carlo return with gamma = 1: the score still to be gained.
                    "q": round((100 - before) / 100.0, 4),
                    "visits": 1,
                    "mean_reward": round(obs.reward, 4),
                }
                if key not in by_key:  # states whose key an action did not change share a record
                    by_key[key] = {"task": state.task, "observation": state.observation,
                                   "action_history": past[-5:], "actions": []}
                    records.append(by_key[key])
                if action not in [a["action"] for a in by_key[key]["actions"]]:
                    by_key[key]["actions"].append(entry)
                if obs.done:
                    break
            if not obs.success:
                raise TaskError(f"gold path of {goal} ended with score {env.score}, not 100")
            goals.append(goal)
            stored[goal] = played
    return {
        "format": "rememberer-pool/1",
        "task_set": "scienceworld",
        "description": (
            "Gold trajectories of training variations " + ", ".join(goals) +
            "; Q = the score still to be gained (return to go, gamma 1) on each gold action."
        ),
        "trajectories": stored,
        "records": records,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the files are current")
    args = parser.parse_args(argv)
    from .env import shutdown_engine

    # The simulator's gold paths depend on what the JVM ran before (measured: after other games,
    # find-non-living-thing:0's gold path picks another object), so each part starts a fresh JVM.
    shutdown_engine()
    variations = build_variations()
    shutdown_engine()
    trajectories = None
    if args.check and (HERE / "pool.json").exists():
        trajectories = json.loads((HERE / "pool.json").read_text(encoding="utf-8")).get("trajectories")
    pool = build_pool(variations, trajectories)
    shutdown_engine()
    outputs = {HERE / "variations.json": variations, HERE / "pool.json": pool}
    stale = []
    for path, data in outputs.items():
        text = json.dumps(data, indent=1, ensure_ascii=False) + "\n"
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path} ({len(text)} bytes)")
    if stale:
        print("stale: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
