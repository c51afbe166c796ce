"""The task protocol every environment adapter implements.

An environment is driven one episode at a time: ``reset(goal_id)`` then ``step(action)``
until ``done``. What the agent sees is split in two on purpose:

* ``task`` and ``observation`` form the **memory key**. They must be canonical: the same
  situation must produce the same strings, or experience fragments across keys.
* ``context`` and ``feedback`` are shown to the model but are not part of the key
  (TextCraft's recipe list, the message about the last action).

A :class:`TaskSet` groups the goals, their splits, the step cap and the similarity that
retrieval uses for this family of tasks.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable


class TaskError(RuntimeError):
    """A task set or an environment could not do what was asked (unknown goal, bad data)."""


@dataclass(frozen=True)
class Observation:
    """What the environment reports after a reset or a step."""

    task: str
    """Task text; first half of the memory key (e.g. ``"Goal: craft oak slab."``)."""
    observation: str
    """Canonical state text; second half of the memory key."""
    context: str = ""
    """Extra text the model needs but memory does not key on (e.g. the recipe list)."""
    feedback: str = ""
    """The environment's message about the last action ("" after a reset)."""
    reward: float = 0.0
    """Reward received on arriving here (0 after a reset)."""
    done: bool = False
    success: bool = False
    valid_actions: tuple[str, ...] | None = None
    """Actions that are valid now, or None when the task does not list them."""


@runtime_checkable
class TaskEnvironment(Protocol):
    """One environment instance; one episode at a time."""

    def reset(self, goal_id: str) -> Observation:
        """Start a fresh episode for ``goal_id``; raises :class:`TaskError` for an unknown goal."""
        ...

    def step(self, action: str) -> Observation:
        """Execute ``action`` (any string; invalid actions are no-ops with a feedback message)."""
        ...


ObservationSimilarity = Callable[[str, str], float]
"""Similarity in [0, 1] between two observation strings of the same task set."""


@dataclass(frozen=True)
class TaskSet:
    """A family of tasks: goals and splits, environments, and how retrieval compares states.

    Subclasses (or instances built by factories) provide ``make_env``; everything else is
    data so that the CLI, the runner and the graph can treat all task sets alike.
    """

    name: str
    description: str
    splits: dict[str, tuple[str, ...]]
    """Named lists of goal ids, e.g. ``{"train": (...), "test": (...)}``; never overlapping."""
    make_env: Callable[[], TaskEnvironment]
    max_steps: int
    """Default step cap per episode."""
    preamble: str
    """Task-specific instructions placed at the top of every prompt."""
    observation_similarity: ObservationSimilarity
    task_weight: float = 0.5
    """λ in ``λ·task similarity + (1−λ)·observation similarity``."""
    initial_pool: Path | None = None
    """JSON file of annotated initial experience (see ``memory.pool``)."""
    action_hint: str = ""
    """One line describing the action syntax, used in correction prompts."""
    success_threshold: float = 1.0
    """An episode succeeds when its final reward reaches this value."""
    metadata: dict[str, str] = field(default_factory=dict)

    def goals(self, split: str) -> tuple[str, ...]:
        try:
            return self.splits[split]
        except KeyError:
            known = ", ".join(sorted(self.splits))
            raise TaskError(f"task set {self.name!r} has no split {split!r} (known: {known})") from None


def load_json(path: Path) -> object:
    """Read a JSON data file shipped with a task package, with a clear error if it is broken."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaskError(f"task data file not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise TaskError(f"task data file {path} is not valid JSON: {exc}") from None


def check_disjoint(name: str, splits: dict[str, Sequence[str]], *, train: str = "train") -> None:
    """Raise if any evaluation split shares a goal with the training split."""
    train_goals = set(splits.get(train, ()))
    for split, goals in splits.items():
        if split == train:
            continue
        shared = train_goals.intersection(goals)
        if shared:
            raise TaskError(f"{name}: split {split!r} overlaps {train!r} on {sorted(shared)[:5]}")
