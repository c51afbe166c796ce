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
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCHEMA_VERSION = 1
RECENT_LIMIT = 16  # provenance lists keep the most recent entries only
EDIT_PREFIX = "edit:"  # a hand edit's provenance stamp: edit:<editor>:<time>
APPLIED_LIMIT = 256  # idempotency tokens remembered per record

# Size caps, checked on every write (a longer value is refused with an error naming it;
# reasons are cut instead, see ``MAX_REASON_CHARS``).
MAX_TASK_CHARS = 8_000
"""A task text (one half of the key)."""
MAX_OBSERVATION_CHARS = 65_536
"""An observation (the other half of the key). Prompts show at most a shorter budget."""
MAX_ACTION_CHARS = 1_000
"""One action text, one valid action, one history entry."""
MAX_REASON_CHARS = 1_000
"""A reason: longer reasons are cut to this length (with "…") before they are stored."""
MAX_LIST_ITEMS = 2_000
"""Entries of ``valid_actions`` and ``action_history``."""

_STRICT = ConfigDict(allow_inf_nan=False)


class CorruptRecordError(ValueError):
    """A stored record could not be decoded."""


class InvalidRecordError(ValueError):
    """A record, pool entry or transition was refused before it reached memory."""


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (they cannot be stored as UTF-8)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def cap_reason(reason: str) -> str:
    reason = clean_text(reason)
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"


def record_id(task: str, observation: str) -> str:
    """Deterministic id of the exact key, so exact lookup and upsert need no search."""
    digest = hashlib.sha256(f"{clean_text(task)}\x1f{clean_text(observation)}".encode("utf-8")).hexdigest()
    return digest[:40]


def describe_validation_error(exc: ValidationError, where: str) -> str:
    """One line naming the first offending field and (a prefix of) its value."""
    first = exc.errors()[0]
    field_path = ".".join(str(part) for part in first.get("loc", ())) or "record"
    value = first.get("input")
    shown = repr(value)
    if len(shown) > 80:
        size = f" ({len(value):,} characters)" if isinstance(value, str) else ""
        shown = shown[:77] + "..." + size
    return f"{where}: {field_path} = {shown}: {first.get('msg', 'invalid')}"


class ActionValue(BaseModel):
    model_config = _STRICT

    action: str = Field(min_length=1, max_length=MAX_ACTION_CHARS)
    reason: str = Field("", max_length=MAX_REASON_CHARS)
    q: float = 0.0
    visits: int = Field(0, ge=0)
    mean_reward: float = 0.0
    """Running mean of the immediate reward that followed this action."""
    updated_at: float = 0.0


class Provenance(BaseModel):
    model_config = _STRICT

    source: str = "experience"
    """"annotated" for initial pools (pinned: never evicted), "experience" otherwise."""
    created_at: float = Field(default_factory=time.time)
    updated_at: float = Field(default_factory=time.time)
    run_ids: list[str] = Field(default_factory=list)
    """What produced the record's statistics: run ids, and ``pool:<file>`` for a loaded pool."""
    episode_ids: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list)
    edits: list[str] = Field(default_factory=list)
    """Hand edits (``edit:<editor>:<time>``, newest last). An edit changes a record but does not
    contribute one: it is provenance, not a run, so ``memory delete --run`` ignores it."""

    @model_validator(mode="after")
    def _edits_are_not_runs(self) -> Provenance:
        # Records written before ``edits`` existed kept their edit stamps among the run ids.
        stamps = [r for r in self.run_ids if r.startswith(EDIT_PREFIX)]
        if stamps:
            self.run_ids = [r for r in self.run_ids if not r.startswith(EDIT_PREFIX)]
            self.edits = list(dict.fromkeys(stamps + self.edits))[-RECENT_LIMIT:]
        return self

    def touch(self, run_id: str | None, episode_id: str | None, model: str | None) -> None:
        self.updated_at = time.time()
        for values, item in ((self.run_ids, run_id), (self.episode_ids, episode_id), (self.models, model)):
            if item and item not in values:
                values.append(item)
                del values[:-RECENT_LIMIT]

    def add_edit(self, stamp: str) -> None:
        if not stamp.startswith(EDIT_PREFIX):
            raise ValueError(f"an edit stamp starts with {EDIT_PREFIX!r}, got {stamp!r}")
        self.updated_at = time.time()
        if stamp not in self.edits:
            self.edits.append(stamp)
            del self.edits[:-RECENT_LIMIT]


class ExperienceRecord(BaseModel):
    model_config = _STRICT

    task: str = Field(max_length=MAX_TASK_CHARS)
    observation: str = Field(max_length=MAX_OBSERVATION_CHARS)
    actions: list[ActionValue] = Field(default_factory=list)
    action_history: list[Annotated[str, Field(max_length=MAX_ACTION_CHARS)]] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    valid_actions: list[Annotated[str, Field(max_length=MAX_ACTION_CHARS)]] = Field(default_factory=list, max_length=MAX_LIST_ITEMS)
    """Actions valid in this state, when the task lists them (used for exploration advice)."""
    last_reward: float = 0.0
    total_reward: float = 0.0
    visits: int = Field(0, ge=0)
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

    def validated(self, where: str = "") -> ExperienceRecord:
        """A checked copy for writing: every field re-validated (finite numbers, visits ≥ 0,
        size caps) and every string cleaned of lone surrogates; raises
        :class:`InvalidRecordError` naming the first offending value otherwise."""
        data = _clean_strings(self.model_dump())
        try:
            return type(self).model_validate(data)
        except ValidationError as exc:
            raise InvalidRecordError(
                "refused to write " + describe_validation_error(exc, where or f"record for task {self.task[:60]!r}")
            ) from None

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



def _clean_strings(value: Any) -> Any:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, list):
        return [_clean_strings(v) for v in value]
    if isinstance(value, dict):
        return {k: _clean_strings(v) for k, v in value.items()}
    return value
