"""The experience record: what memory keeps per (task, observation).

One record per exact key. Per action it keeps the visit count, the Q estimate, the mean
immediate reward and the latest reason the model gave; per record the action history that
led there, running means of the arrival and cumulative rewards, and provenance.

Deliberate difference from the original code: an action's identity is its action text alone.
The original keyed actions by (action, reason), so the same click with a reworded reason
split its statistics; here the reason is kept as the latest explanation of the action.
"""

from __future__ import annotations

import hashlib
import time

from pydantic import BaseModel, Field, ValidationError

SCHEMA_VERSION = 1
RECENT_LIMIT = 16  # provenance lists keep the most recent entries only
APPLIED_LIMIT = 256  # idempotency tokens remembered per record


class CorruptRecordError(ValueError):
    """A stored record could not be decoded."""


def record_id(task: str, observation: str) -> str:
    """Deterministic id of the exact key, so exact lookup and upsert need no search."""
    digest = hashlib.sha256(f"{task}\x1f{observation}".encode("utf-8")).hexdigest()
    return digest[:40]


class ActionValue(BaseModel):
    action: str
    reason: str = ""
    q: float = 0.0
    visits: int = 0
    mean_reward: float = 0.0
    """Running mean of the immediate reward that followed this action."""
    updated_at: float = 0.0


class Provenance(BaseModel):
    source: str = "experience"
    """"annotated" for initial pools (pinned: never evicted), "experience" otherwise."""
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    run_ids: list[str] = Field(default_factory=list)
    episode_ids: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)

    def touch(self, run_id: str | None, episode_id: str | None, model: str | None) -> None:
        self.updated_at = time.time()
        for values, item in ((self.run_ids, run_id), (self.episode_ids, episode_id), (self.models, model)):
            if item and item not in values:
                values.append(item)
                del values[:-RECENT_LIMIT]


class ExperienceRecord(BaseModel):
    task: str
    observation: str
    actions: list[ActionValue] = Field(default_factory=list)
    action_history: list[str] = Field(default_factory=list)
    valid_actions: list[str] = Field(default_factory=list)
    """Actions valid in this state, when the task lists them (used for exploration advice)."""
    last_reward: float = 0.0
    total_reward: float = 0.0
    visits: int = 0
    applied_updates: list[str] = Field(default_factory=list)
    """Ids of the transitions already folded in; re-applying one is a no-op."""
    provenance: Provenance = Field(default_factory=Provenance)
    schema_version: int = SCHEMA_VERSION

    @property
    def id(self) -> str:
        return record_id(self.task, self.observation)

    @property
    def key(self) -> tuple[str, str]:
        return (self.task, self.observation)

    @property
    def pinned(self) -> bool:
        return self.provenance.source == "annotated"

    @property
    def max_q(self) -> float:
        return max((a.q for a in self.actions), default=0.0)

    @property
    def action_visits(self) -> int:
        return sum(a.visits for a in self.actions)

    def action(self, text: str) -> ActionValue | None:
        for entry in self.actions:
            if entry.action == text:
                return entry
        return None

    def sorted_actions(self) -> list[ActionValue]:
        """Actions by Q, best first (stable: insertion order breaks ties)."""
        return sorted(self.actions, key=lambda a: -a.q)

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, payload: str, *, where: str = "") -> ExperienceRecord:
        try:
            record = cls.model_validate_json(payload)
        except (ValidationError, ValueError) as exc:
            raise CorruptRecordError(f"corrupt experience record {where}: {exc}".strip()) from None
        if record.schema_version > SCHEMA_VERSION:
            raise CorruptRecordError(
                f"record {where} has schema {record.schema_version}; this version reads up to {SCHEMA_VERSION}"
            )
        return record

