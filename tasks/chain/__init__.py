"""Corridor: a tiny deterministic task with known optimal Q values.

The agent stands in cell 0 of a corridor of ``length`` cells and must reach the last cell.
Actions: ``move right``, ``move left`` (a wall at cell 0 keeps it there) and ``wait``.
Reaching the end gives reward 1 and ends the episode; every other step gives 0.

With discount γ the optimal values are closed-form (see :func:`optimal_q`), which makes the
task the reference for RLEM's convergence check and for fast graph tests.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..base import Observation, TaskError, TaskSet, check_disjoint

ACTIONS = ("move right", "move left", "wait")
_GOAL = re.compile(r"corridor-(\d+)(?:#\d+)?$")
"""``corridor-N``, or ``corridor-N#K``: the same corridor under another goal id (benchmarks run
many equal episodes that way)."""


def _length(goal_id: str) -> int:
    match = _GOAL.match(goal_id)
    if not match or int(match.group(1)) < 2:
        raise TaskError(f"unknown corridor goal {goal_id!r} (expected 'corridor-N' with N ≥ 2)")
    return int(match.group(1))


def task_text(length: int) -> str:
    return f"Walk to the end of a corridor of {length} cells."


def observation_text(position: int, length: int) -> str:
    return f"You are in cell {position + 1} of {length}."


class CorridorEnv:
    """Implements :class:`tasks.base.TaskEnvironment`."""

    def __init__(self) -> None:
        self.length = 0
        self.position = 0
        self.done = False

    def _observe(self, feedback: str = "", reward: float = 0.0) -> Observation:
        return Observation(
            task=task_text(self.length),
            observation=observation_text(self.position, self.length),
            feedback=feedback,
            reward=reward,
            done=self.done,
            success=self.done and self.position == self.length - 1,
            valid_actions=ACTIONS,
        )

    def reset(self, goal_id: str) -> Observation:
        self.length = _length(goal_id)
        self.position = 0
        self.done = False
        return self._observe()

    def step(self, action: str) -> Observation:
        if self.length == 0:
            raise TaskError("step() before reset()")
        if self.done:
            return self._observe("The episode is over.")
        action = action.strip().lower()
        if action == "move right":
            self.position += 1
            feedback = "You moved right."
        elif action == "move left":
            feedback = "You bumped into the wall." if self.position == 0 else "You moved left."
            self.position = max(0, self.position - 1)
        elif action == "wait":
            feedback = "You waited."
        else:
            return self._observe(f"Unknown action {action!r}; use one of: {', '.join(ACTIONS)}.")
        reward = 0.0
        if self.position == self.length - 1:
            self.done = True
            reward = 1.0
            feedback += " You reached the end of the corridor."
        return self._observe(feedback, reward)


def optimal_value(position: int, length: int, gamma: float) -> float:
    """V*(s): the end is ``length − 1 − position`` moves away; reward 1 on arrival."""
    return gamma ** (length - 2 - position)


def optimal_q(position: int, action: str, length: int, gamma: float) -> float:
    """Q*(s, a) for non-terminal cells ``0 ≤ position < length − 1``."""
    if action == "move right":
        nxt = position + 1
        return 1.0 if nxt == length - 1 else gamma * optimal_value(nxt, length, gamma)
    if action == "move left":
        return gamma * optimal_value(max(0, position - 1), length, gamma)
    if action == "wait":
        return gamma * optimal_value(position, length, gamma)
    raise ValueError(action)


PREAMBLE = (Path(__file__).parent / "preamble.txt")


def load_task_set(**_: object) -> TaskSet:
    splits = {
        "train": ("corridor-3", "corridor-4", "corridor-5"),
        "test": ("corridor-6", "corridor-7"),
    }
    check_disjoint("chain", splits)
    return TaskSet(
        name="chain",
        description="Corridor walk with known optimal Q values (tests and convergence checks).",
        splits=splits,
        make_env=CorridorEnv,
        max_steps=12,
        preamble=PREAMBLE.read_text(encoding="utf-8"),
        observation_similarity=_cell_similarity,
        task_weight=0.5,
        initial_pool=None,
        action_hint="one of: move right, move left, wait",
    )


def _cell_similarity(a: str, b: str) -> float:
    """States are similar when they are the same number of cells from the end."""
    ma = re.search(r"cell (\d+) of (\d+)", a)
    mb = re.search(r"cell (\d+) of (\d+)", b)
    if not ma or not mb:
        return 1.0 if a == b else 0.0
    left_a = int(ma.group(2)) - int(ma.group(1))
    left_b = int(mb.group(2)) - int(mb.group(1))
    return 1.0 / (1.0 + abs(left_a - left_b))
