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


class MemoryKeys:
    """How experience is keyed: the identity (the paper's verbatim keys) or goal-relative.

    Verbatim keys store each (task, observation, action) as the environment wrote it, so
    experience from one goal meets another goal only where their texts happen to agree.
    A task set that knows the structure of its goals subclasses this to key states and
    actions **relative to the current goal** (TextCraft: an item's role in the goal's recipe
    tree instead of its name). Memory then stores abstract keys and abstract actions; at
    decision time the advice is mapped back to the concrete actions valid now
    (:meth:`concretize`). Everything task-specific stays behind this class; the graph's
    nodes only call it.
    """

    name = "verbatim"
    """Short id; a non-verbatim scheme gets its own memory namespace ``<task set>.<name>``."""
    description = "the environment's own texts, as in the paper"

    def state_key(self, task: str, observation: str, context: str) -> tuple[str, str]:
        """The (task, observation) memory key of a state."""
        return task, observation

    def action_key(self, action: str, task: str, observation: str, context: str) -> str:
        """The memory key of ``action`` taken in this state."""
        return action

    def observation_similarity(self, a: str, b: str) -> float | None:
        """Similarity of two observation keys, or None to use the task set's own."""
        return None

    def relevant(self, action: str, task: str, observation: str, context: str) -> bool:
        """Whether ``action`` can matter for this goal (pruning, the default unless ``--all-actions``, keeps only these)."""
        return True

    def offer(self, valid_actions: Sequence[str], task: str, observation: str, context: str) -> list[str]:
        """The valid actions offered to the model when pruning is on (the default): those
        :meth:`relevant` keeps, or all of them when it keeps none. A task set whose valid-action
        lists are long (ScienceWorld: up to ~3,800) overrides this to offer a bounded subset."""
        kept = [a for a in valid_actions if self.relevant(a, task, observation, context)]
        return kept or list(valid_actions)

    def concretize(self, key: str, task: str, observation: str, context: str,
                   valid_actions: Sequence[str] | None) -> list[str]:
        """The concrete actions valid now whose key is ``key`` (advice mapped to this goal)."""
        if self.name == "verbatim":
            return [key]
        return [a for a in valid_actions or () if self.action_key(a, task, observation, context) == key]


VERBATIM = MemoryKeys()


def pool_record_keys(keys: MemoryKeys, raw: dict) -> dict:
    """An initial-pool record (``rememberer-pool/1``) under ``keys``: its state, history and
    actions mapped as the agent would key them. Actions that map to one key keep the best Q."""
    task, observation = raw["task"], raw["observation"]
    new_task, new_observation = keys.state_key(task, observation, raw.get("context", ""))
    actions: dict[str, dict] = {}
    for entry in raw["actions"]:
        key = keys.action_key(entry["action"], task, observation, raw.get("context", ""))
        if key not in actions or float(entry["q"]) > float(actions[key]["q"]):
            actions[key] = {**entry, "action": key}
    valid = list(dict.fromkeys(keys.action_key(a, task, observation, "") for a in raw.get("valid_actions", [])))
    return {**raw, "task": new_task, "observation": new_observation, "actions": list(actions.values()),
            "action_history": [], "valid_actions": valid}


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
    goal_keys: MemoryKeys | None = None
    """Goal-relative memory keys for this family (None: only the verbatim keys)."""
    metadata: dict[str, str] = field(default_factory=dict)

    def memory_keys(self, scheme: str) -> MemoryKeys:
        """The key scheme a run asks for: ``goal-relative`` (where the task set has one) or ``verbatim``."""
        if scheme not in ("goal-relative", "verbatim"):
            raise TaskError(f"unknown memory key scheme {scheme!r} (use 'goal-relative' or 'verbatim')")
        return self.goal_keys if scheme == "goal-relative" and self.goal_keys is not None else VERBATIM

    def memory_namespace(self, scheme: str) -> str:
        """Default memory namespace: the task set's name, suffixed for goal-relative keys."""
        keys = self.memory_keys(scheme)
        return self.name if keys is VERBATIM else f"{self.name}.{keys.name}"

    def similarity(self, scheme: str) -> ObservationSimilarity:
        """The observation similarity retrieval uses under ``scheme``."""
        keys = self.memory_keys(scheme)
        return self.observation_similarity if keys is VERBATIM else keys.observation_similarity

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
