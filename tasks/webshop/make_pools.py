"""Regenerate the initial exemplar pools ``pool_E0.json``, ``pool_E1.json``, ``pool_E2.json``.

Each pool is one annotated successful trajectory on a training goal, in the spirit of
REMEMBERER's ``init_pool{,2,3}.wq.yaml``: one record per state (search page, results page,
item page, item page after each option, ending with Buy Now), Q = 1.0 on the action taken,
plus one discouraged Q = 0.0 action (clicking the Search button) on the first record. The
records are produced by playing the trajectory in the real environment, so the task and
observation strings are exactly what the environment emits.

Run ``python -m rememberer.tasks.webshop.make_pools [--data-dir DIR] [--check]``; with
``--check`` it only verifies that the committed files are still what the renderer produces.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import TaskError
from . import HERE, make_environment
from .goals import make_splits

POOL_FORMAT = "rememberer-pool/1"


@dataclass(frozen=True)
class Annotated:
    """One hand-annotated trajectory: the goal and (action, reason) per step."""

    pool: str
    split: str
    goal_id: str
    steps: tuple[tuple[str, str], ...]
    discouraged: tuple[str, str]
    description: str


TRAJECTORIES = (
    Annotated(
        pool="E0",
        split="train",
        goal_id="550",
        steps=(
            ("search[ottoman faux leather easy install]",
             "The keywords name the product type and its main features; the price limit and the size are checked later on the item page."),
            ("click[b09ntccvgx]",
             "b09ntccvgx is a folding storage ottoman in faux leather and costs less than 170 dollars, so it is worth opening to look at its sizes."),
            ("click[60x40x40cm]",
             "The instruction asks for size 60x40x40cm and this item offers it, so I choose that size."),
            ("click[buy now]",
             "The size 60x40x40cm is chosen, the item matches the description and is under 170 dollars, so I can buy it now."),
        ),
        discouraged=("click[search]", "Clicking the Search button without keywords does nothing; the keywords must be typed with search[...]."),
        description="E0: a garden item with one option (storage ottoman, size 60x40x40cm).",
    ),
    Annotated(
        pool="E1",
        split="train",
        goal_id="515",
        steps=(
            ("search[women swimsuit tummy control teen girls]",
             "A short query with the product type and the distinctive feature; colour and size are options to pick on the item page."),
            ("click[b09s6lzyhq]",
             "b09s6lzyhq is a one-piece swimsuit for women and its price fits the budget; I open it to check the colours and sizes."),
            ("click[yellow]",
             "The instruction wants the colour yellow, which this item offers, so I choose it."),
            ("click[small]",
             "Yellow is chosen; the size small is still missing, so I choose it before buying."),
            ("click[buy now]",
             "Both options (yellow, small) are chosen and the item fits the instruction and the price, so I buy it."),
        ),
        discouraged=("click[search]", "The Search button alone does not search; use search[keywords] instead."),
        description="E1: a fashion item with two options (swimsuit, colour yellow and size small).",
    ),
    Annotated(
        pool="E2",
        split="train_s1",
        goal_id="623",
        steps=(
            ("search[gold plated high speed hdmi cable 100 feet]",
             "The query combines the product type, its features and the wanted length."),
            ("click[b01mqh5vgr]",
             "b01mqh5vgr is a gold plated high speed HDMI cable under 50 dollars; I open it to find the 100 feet length."),
            ("click[100 feet]",
             "The required size is 100 feet and it is one of the size options, so I choose it."),
            ("click[buy now]",
             "The 100 feet option is selected and the cable matches the instruction and the price, so I buy it."),
        ),
        discouraged=("click[search]", "Clicking Search without keywords leaves the page unchanged."),
        description="E2: an electronics item with one option (HDMI cable, size 100 feet).",
    ),
)


def build_pool(traj: Annotated, data_dir: str | None = None) -> dict[str, Any]:
    """Play ``traj`` in the environment and return the pool document."""
    env = make_environment(data_dir)
    splits = make_splits(env.goals)
    if traj.goal_id not in splits[traj.split]:
        raise TaskError(f"pool {traj.pool}: goal {traj.goal_id} is not in split {traj.split!r}")
    obs = env.reset(traj.goal_id)
    history: list[str] = []
    records = []
    for index, (action, reason) in enumerate(traj.steps):
        if action not in obs.valid_actions and not action.startswith("search["):
            raise TaskError(f"pool {traj.pool}: {action} is not valid at step {index}")
        actions = [{"action": action, "reason": reason, "q": 1.0, "visits": 1, "mean_reward": 0.0}]
        if index == 0:
            bad, why = traj.discouraged
            actions.append({"action": bad, "reason": why, "q": 0.0, "visits": 1, "mean_reward": 0.0})
        records.append(
            {
                "task": obs.task,
                "observation": obs.observation,
                "action_history": list(history),
                "actions": actions,
            }
        )
        obs = env.step(action)
        if obs.feedback:
            raise TaskError(f"pool {traj.pool}: {action} was rejected: {obs.feedback}")
        history.append(action)
    if not (obs.done and obs.success):
        raise TaskError(f"pool {traj.pool}: the trajectory ends with reward {obs.reward}, not 1.0")
    return {
        "format": POOL_FORMAT,
        "task_set": "webshop",
        "description": (
            f"{traj.description} One annotated successful trajectory on training goal "
            f"{traj.goal_id} ({traj.split}); Q=1.0 on the actions taken, one Q=0.0 mistake."
        ),
        "records": records,
    }


def pool_path(pool: str) -> Path:
    return HERE / f"pool_{pool}.json"


def dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = parser.parse_args(argv)
    stale = []
    for traj in TRAJECTORIES:
        text = dump(build_pool(traj, args.data_dir))
        path = pool_path(traj.pool)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("stale pools: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
