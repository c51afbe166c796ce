"""ScienceWorld task set: 30 science-experiment task types in a text simulator (Java, offline).

Goal ids are ``"<task-name>:<variation>"``. Splits follow the package's own train / dev / test
variations (pinned in ``variations.json`` by ``make_data.py``, so loading the task set needs no
JVM); each split lists its goals round-robin over task types, so the first N goals of a split
cover many task types. ``train_transfer`` / ``dev_transfer`` / ``test_transfer`` hold only the
four short task types of the transfer experiment. See ``README.md``.

Options (``load_task_set(**options)``, ``--task-option KEY=VALUE`` on the command line; the
environment variables are read when an option is not given):

* ``valid_actions`` (``REMEMBERER_SCIENCEWORLD_VALID_ACTIONS=1``): list the simulator's valid
  actions in every observation. Off by default: the list has about 400 to 3,800 entries and is
  the slow part of a step (p50 81 ms with it, 4.4 ms without; ``benchmarks/scienceworld_steps.py``).
* ``max_steps`` (``REMEMBERER_SCIENCEWORLD_MAX_STEPS``): step cap per episode (default 30, the
  runner's cap; the environment itself enforces an explicitly given cap, else 100).
* ``simplifications`` (``REMEMBERER_SCIENCEWORLD_SIMPLIFICATIONS``): e.g. ``"easy"`` or
  ``"openDoors,teleportAction"`` (default: none).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from ..base import TaskError, TaskSet, check_disjoint, load_json
from .env import ScienceWorldTaskEnv, java_available, parse_goal_id, shutdown_engine
from .keys import KEYS
from .matcher import canonical_observation, observation_similarity

HERE = Path(__file__).parent
DEFAULT_MAX_STEPS = 30
ENV_STEP_LIMIT = 100
"""ScienceWorld's own default ``envStepLimit``; the environment's backstop when no cap is given."""


def _round_robin(tasks: dict[str, dict[str, list[int]]], names: list[str], split: str) -> tuple[str, ...]:
    columns = [[f"{name}:{v}" for v in tasks[name][split]] for name in names]
    out: list[str] = []
    for i in range(max((len(c) for c in columns), default=0)):
        out.extend(c[i] for c in columns if i < len(c))
    return tuple(out)


def _flag(value: object, env_name: str) -> bool:
    if value is None:
        value = os.environ.get(env_name, "")
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def load_task_set(
    valid_actions: bool | str | None = None,
    max_steps: int | str | None = None,
    simplifications: str | None = None,
    **_: object,
) -> TaskSet:
    """Build the ScienceWorld task set.

    Args:
        valid_actions: list the simulator's valid actions in every observation (slow; default
            $REMEMBERER_SCIENCEWORLD_VALID_ACTIONS, else off).
        max_steps: step cap the environment enforces (default $REMEMBERER_SCIENCEWORLD_MAX_STEPS,
            else 30 for the runner and ScienceWorld's own 100 for the environment).
        simplifications: ScienceWorld simplifications, e.g. easy or openDoors,teleportAction
            (default $REMEMBERER_SCIENCEWORLD_SIMPLIFICATIONS, else none).
    """
    data = load_json(HERE / "variations.json")
    tasks = data["tasks"]
    names = sorted(tasks)
    transfer = list(data["transfer_tasks"])
    splits: dict[str, tuple[str, ...]] = {}
    for split in ("train", "dev", "test"):
        splits[split] = _round_robin(tasks, names, split)
        splits[f"{split}_transfer"] = _round_robin(tasks, transfer, split)
    evaluation = {k: v for k, v in splits.items() if not k.startswith("train")}
    for train in ("train", "train_transfer"):  # training variations never appear in dev or test
        check_disjoint("scienceworld", {train: splits[train], **evaluation}, train=train)
    listed = _flag(valid_actions, "REMEMBERER_SCIENCEWORLD_VALID_ACTIONS")
    cap_text = max_steps if max_steps is not None else os.environ.get("REMEMBERER_SCIENCEWORLD_MAX_STEPS")
    explicit = cap_text is not None
    try:
        cap = int(cap_text) if explicit else DEFAULT_MAX_STEPS
    except ValueError:
        raise TaskError(f"scienceworld: max_steps must be an integer, got {cap_text!r}") from None
    if cap < 1:
        raise TaskError("scienceworld: max_steps must be at least 1")
    # The runner caps episodes at its own --max-steps (default: this task set's max_steps). The
    # environment ends an episode itself at an explicitly given cap, otherwise only at
    # ScienceWorld's own default limit, so that a larger --max-steps is not cut short.
    env_cap = cap if explicit else ENV_STEP_LIMIT
    simpl = simplifications if simplifications is not None else os.environ.get("REMEMBERER_SCIENCEWORLD_SIMPLIFICATIONS", "")
    return TaskSet(
        name="scienceworld",
        description="ScienceWorld: science experiments in a text world (30 task types; dense score rewards).",
        splits=splits,
        make_env=partial(
            ScienceWorldTaskEnv, valid_actions=listed, step_cap=env_cap, simplifications=simpl,
            known_tasks=frozenset(names),
        ),
        max_steps=cap,
        preamble=(HERE / "preamble.txt").read_text(encoding="utf-8"),
        observation_similarity=observation_similarity,
        task_weight=0.5,
        initial_pool=HERE / "pool.json",
        action_hint="one ScienceWorld command, e.g. 'open door to kitchen', 'go to kitchen', 'pick up thermometer', 'focus on red box'",
        success_threshold=1.0,
        goal_keys=KEYS,
        metadata={"source": data["source"], "valid_actions": str(listed), "simplifications": simpl},
    )


__all__ = [
    "ScienceWorldTaskEnv", "canonical_observation", "java_available", "load_task_set",
    "observation_similarity", "parse_goal_id", "shutdown_engine",
]
