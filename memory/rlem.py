"""RLEM: the Q-learning backup over the experience memory.

Given one episode as a list of transitions ``(o_t, a_t, r_{t+1})``, compute a target per step
and fold it into the record of the exact key ``(task, o_t)``:

* **Monte-Carlo** (``n_step=None``, the released default):
  ``G_t = Σ_{j≥t} γ^{j−t} r_{j+1}``; with WebShop-style terminal rewards and γ=1 every step
  of the episode gets the final score.
* **n-step bootstrapping** (``n_step=n``):
  ``G_t = Σ_{i<n} γ^i r_{t+1+i} + γ^n · V(o_{t+n})`` while the window stays inside the
  episode. ``V`` is the max Q of the record with the exact key ``o_{t+n}``, or, when that key
  was never stored, of the most similar record (the paper's semi-parametric bootstrap), or 0
  when memory is empty. Windows that reach the end use the truncated return; when the episode
  was cut by the step cap (not terminal) the final observation is bootstrapped as well,
  because a time limit is not a terminal state.
* **Step size**: ``"mean"`` gives α = 1/N (N counts every update of the entry, including an
  annotated initial sample), ``"const"`` a fixed α. New action entries start at Q = 0.

Targets are computed at episode end in time order against a working copy of the affected
records, which is what the original's online n-step update computes, except that retrieval
inside the episode does not see the episode's own updates. Everything here is pure: the
caller reads the records it needs through :class:`RecordSource` and writes the result back.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from .records import APPLIED_LIMIT, ActionValue, ExperienceRecord, Provenance, record_id

UpdateMode = Literal["mean", "const"]


@dataclass(frozen=True)
class RLEMConfig:
    gamma: float = 1.0
    update_mode: UpdateMode = "mean"
    learning_rate: float = 0.1
    """α for ``update_mode="const"``."""
    n_step: int | None = None
    """None = Monte-Carlo return over the whole episode; n ≥ 1 = n-step bootstrapping."""
    max_actions: int = 20
    """Actions kept per record; see :func:`prune_actions`."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.gamma <= 1.0:
            raise ValueError(f"gamma must be in [0, 1], got {self.gamma}")
        if self.update_mode not in ("mean", "const"):
            raise ValueError(f"update_mode must be 'mean' or 'const', got {self.update_mode!r}")
        if self.update_mode == "const" and not 0.0 < self.learning_rate <= 1.0:
            raise ValueError(f"learning_rate must be in (0, 1], got {self.learning_rate}")
        if self.n_step is not None and self.n_step < 1:
            raise ValueError(f"n_step must be None (Monte-Carlo) or ≥ 1, got {self.n_step}")
        if self.max_actions < 1:
            raise ValueError("max_actions must be ≥ 1")


@dataclass(frozen=True)
class Transition:
    """One step of an episode: in state ``(task, observation)`` the agent took ``action``."""

    task: str
    observation: str
    action: str
    reward: float
    """r_{t+1}: the reward that followed the action."""
    reason: str = ""
    action_history: tuple[str, ...] = ()
    """Actions taken before this step, oldest first."""
    valid_actions: tuple[str, ...] = ()
    """Actions valid in this state, if the task lists them."""


@dataclass(frozen=True)
class Episode:
    episode_id: str
    transitions: tuple[Transition, ...]
    final_observation: str = ""
    terminal: bool = True
    """False when the step cap cut the episode (the final state is then bootstrapped)."""
    run_id: str | None = None
    model: str | None = None


class RecordSource(Protocol):
    """Where the backup reads current records from (a Chroma store or an in-memory table)."""

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[str, ExperienceRecord]: ...

    def best_match(self, task: str, observation: str) -> ExperienceRecord | None: ...


@dataclass
class UpdatePlan:
    records: list[ExperienceRecord]
    targets: list[float]
    skipped: int = 0
    """Transitions already applied earlier (idempotent re-application)."""
    created: int = 0
    """Records for keys memory did not have before this episode."""
    bootstraps: dict[str, int] = field(default_factory=lambda: {"exact": 0, "similar": 0, "none": 0})


def discounted_returns(rewards: Sequence[float], gamma: float) -> list[float]:
    """``G_t = Σ_{j≥t} γ^{j−t} r_{j+1}`` for rewards ``[r_1, …, r_T]``."""
    returns = [0.0] * len(rewards)
    running = 0.0
    for t in range(len(rewards) - 1, -1, -1):
        running = rewards[t] + gamma * running
        returns[t] = running
    return returns


def n_step_target(rewards: Sequence[float], t: int, n: int, gamma: float, bootstrap: float | None) -> float:
    """``Σ_{i<n'} γ^i r_{t+1+i} (+ γ^{n'} · bootstrap)`` with n' = min(n, T−t)."""
    horizon = min(n, len(rewards) - t)
    total = sum(gamma**i * rewards[t + i] for i in range(horizon))
    if bootstrap is not None:
        total += gamma**horizon * bootstrap
    return total


def step_size(config: RLEMConfig, visits: int) -> float:
    return 1.0 / visits if config.update_mode == "mean" else config.learning_rate


def prune_actions(record: ExperienceRecord, keep: str, max_actions: int) -> None:
    """Drop actions beyond capacity: fewest visits first, then least recently updated.

    The action just updated is never dropped. (The original dropped the minimum of a
    mis-defined ``reward`` field.)
    """
    while len(record.actions) > max_actions:
        victims = [a for a in record.actions if a.action != keep]
        victim = min(victims, key=lambda a: (a.visits, a.updated_at))
        record.actions.remove(victim)


def plan_episode_update(episode: Episode, source: RecordSource, config: RLEMConfig) -> UpdatePlan:
    """Compute the updated records for one episode (nothing is written here)."""
    transitions = episode.transitions
    rewards = [tr.reward for tr in transitions]
    keys = [(tr.task, tr.observation) for tr in transitions]
    if transitions and not episode.terminal:
        keys.append((transitions[-1].task, episode.final_observation))
    working = source.get_many(keys)  # id -> record, copies we are free to mutate
    touched: dict[str, ExperienceRecord] = {}
    targets: list[float] = []
    plan = UpdatePlan(records=[], targets=targets)
    mc_returns = discounted_returns(rewards, config.gamma) if config.n_step is None else None
    now = time.time()
    total_reward = 0.0

    def state_value(task: str, observation: str) -> float:
        rid = record_id(task, observation)
        exact = touched.get(rid, working.get(rid))
        if exact is not None and exact.actions:
            plan.bootstraps["exact"] += 1
            return exact.max_q
        similar = source.best_match(task, observation)
        if similar is not None and similar.actions:
            plan.bootstraps["similar"] += 1
            return similar.max_q
        plan.bootstraps["none"] += 1
        return 0.0

    for t, tr in enumerate(transitions):
        arrival_reward = rewards[t - 1] if t > 0 else 0.0
        total_reward += arrival_reward
        if mc_returns is not None:
            target = mc_returns[t]
        else:
            n = config.n_step or 1
            bootstrap: float | None = None
            if t + n < len(transitions):
                nxt = transitions[t + n]
                bootstrap = state_value(nxt.task, nxt.observation)
            elif not episode.terminal:
                # The window runs past a step-cap cut: bootstrap the final state.
                bootstrap = state_value(tr.task, episode.final_observation)
            target = n_step_target(rewards, t, n, config.gamma, bootstrap)
        targets.append(target)

        rid = record_id(tr.task, tr.observation)
        record = touched.get(rid, working.get(rid))
        update_id = f"{episode.episode_id}:{t}"
        if record is not None and update_id in record.applied_updates:
            plan.skipped += 1
            continue
        if record is None:
            plan.created += 1
            record = ExperienceRecord(
                task=tr.task,
                observation=tr.observation,
                action_history=list(tr.action_history),
                provenance=Provenance(created_at=now, updated_at=now),
            )
        _fold_transition(record, tr, target, arrival_reward, total_reward, config, now)
        record.applied_updates.append(update_id)
        del record.applied_updates[:-APPLIED_LIMIT]
        record.provenance.touch(episode.run_id, episode.episode_id, episode.model)
        touched[rid] = record

    plan.records = list(touched.values())
    return plan


def _fold_transition(
    record: ExperienceRecord,
    tr: Transition,
    target: float,
    arrival_reward: float,
    total_reward: float,
    config: RLEMConfig,
    now: float,
) -> None:
    record.visits += 1
    record.last_reward += (arrival_reward - record.last_reward) / record.visits
    record.total_reward += (total_reward - record.total_reward) / record.visits
    # "shortest" history mode: a shorter path to the same state is the more useful context.
    if len(tr.action_history) <= len(record.action_history):
        record.action_history = list(tr.action_history)

    if tr.valid_actions:
        record.valid_actions = list(tr.valid_actions)
    entry = record.action(tr.action)
    if entry is None:
        entry = ActionValue(action=tr.action, reason=tr.reason)
        record.actions.append(entry)
    entry.visits += 1
    entry.q += step_size(config, entry.visits) * (target - entry.q)
    entry.mean_reward += (tr.reward - entry.mean_reward) / entry.visits
    if tr.reason:
        entry.reason = tr.reason
    entry.updated_at = now
    prune_actions(record, tr.action, config.max_actions)


class InMemoryTable:
    """A dict-backed :class:`RecordSource` for tests, simulations and the convergence check.

    ``similarity(query_key, record_key) -> float`` ranks records for the similar-state
    bootstrap; by default only exact keys match.
    """

    def __init__(self, similarity=None):
        self.records: dict[str, ExperienceRecord] = {}
        self._similarity = similarity

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[str, ExperienceRecord]:
        out = {}
        for task, observation in keys:
            rid = record_id(task, observation)
            if rid in self.records:
                out[rid] = self.records[rid].model_copy(deep=True)
        return out

    def best_match(self, task: str, observation: str) -> ExperienceRecord | None:
        if not self.records or self._similarity is None:
            return None
        return max(self.records.values(), key=lambda r: self._similarity((task, observation), r.key))

    def apply(self, episode: Episode, config: RLEMConfig) -> UpdatePlan:
        plan = plan_episode_update(episode, self, config)
        for record in plan.records:
            self.records[record.id] = record
        return plan

    def q(self, task: str, observation: str, action: str) -> float | None:
        record = self.records.get(record_id(task, observation))
        entry = record.action(action) if record else None
        return entry.q if entry else None
