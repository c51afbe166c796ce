"""Memory tools: look at, search, edit and clean an experience memory.

Everything here goes through :class:`ExperienceMemory`'s public API (``records``,
``get_many``, ``upsert``, ``delete``, ``export``); this module adds opening a memory without
creating anything, and the operations the ``rememberer memory`` command offers:

* read: :func:`summary`, :func:`list_records`, :func:`find`, :func:`search` (by meaning, over
  the task and the observation);
* write: :func:`edit` (an action's Q or reason; the edit is recorded in the record's
  provenance and in ``rememberer-edits.jsonl`` next to the memory), :func:`delete_records`
  (one record, or what one run contributed), :func:`import_export` (what ``export`` writes,
  validated, all or nothing), :func:`prune` (by age, visits or value) and :func:`dedup`
  (near-duplicate keys merged by the rule documented there).

Read commands never write: :func:`open_memory` with ``create=False`` refuses a directory or a
namespace that does not exist instead of creating an empty collection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .embeddings import HashingEmbedder, MiniLMEmbedder, TextEmbedder, cosine
from .records import EDIT_PREFIX, ActionValue, ExperienceRecord
from .store import ExperienceMemory, MemoryStoreError, _collection_name, _http_client

EXPORT_FORMAT = "rememberer-memory/1"
EDIT_LOG = "rememberer-edits.jsonl"


# ---------------------------------------------------------------------------------- opening
def _embedder_for(model_id: str | None, dimension: int | None) -> TextEmbedder | None:
    if model_id and model_id.startswith("hashing-bow-"):
        return HashingEmbedder(int(dimension or model_id.rsplit("-", 1)[1]))
    if model_id in (None, MiniLMEmbedder.model_id):
        return None  # the default
    raise MemoryStoreError(f"memory was built with embeddings {model_id!r}, which this command cannot load")


def open_memory(memory_dir: str | Path | None, namespace: str, *, create: bool = False,
                observation_similarity: Callable[[str, str], float] | None = None, task_weight: float = 0.5,
                url: str | None = None) -> ExperienceMemory:
    """Open the memory of ``namespace`` in ``memory_dir`` (or on the Chroma server ``url``, which
    then wins) with the embedder it was built with.

    With ``create=False`` (every read command) a missing directory or namespace is an error and
    nothing is created, on disk or on the server."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False, allow_reset=False)
    if url is not None:
        client = _http_client(url, settings)
        where = url
    else:
        path = Path(memory_dir).expanduser()
        where = str(memory_dir)
        if not (path / "chroma.sqlite3").is_file():  # not a memory yet: opening Chroma there would create one
            if not create:
                raise MemoryStoreError(f"no memory at {memory_dir}")
            return ExperienceMemory(path, namespace=namespace, observation_similarity=observation_similarity,
                                    task_weight=task_weight)
        client = chromadb.PersistentClient(path=str(path.resolve()), settings=settings)
    names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
    wanted = _collection_name(namespace)
    meta: dict[str, Any] = {}
    if wanted in names:
        meta = client.get_collection(wanted).metadata or {}
    elif not create:
        present = namespaces_of(names) or ["none"]
        error = MemoryStoreError(f"no memory for {namespace!r} at {where} (namespaces there: {', '.join(present)})")
        error.namespaces = tuple(n for n in present if n != "none")
        raise error
    embedder = _embedder_for(meta.get("embedding_model"), meta.get("embedding_dim"))
    if url is not None:
        return ExperienceMemory(url=url, client=client, namespace=namespace, embedder=embedder,
                                observation_similarity=observation_similarity, task_weight=task_weight)
    return ExperienceMemory(path, namespace=namespace, embedder=embedder, client=client,
                            observation_similarity=observation_similarity, task_weight=task_weight)


def namespaces_of(collection_names: Any) -> list[str]:
    """The memory namespaces among Chroma collection names (not the server's lock collection
    nor the stores' side collections)."""
    return sorted(n.removeprefix("rememberer-") for n in collection_names
                  if n.startswith("rememberer-") and n != "rememberer-locks")


# ---------------------------------------------------------------------------------- reading
def summary(memory: ExperienceMemory) -> dict[str, Any]:
    """Counts, Q-value distribution and sources (one pass over the records)."""
    records = list(memory.records())
    qs = [a.q for r in records for a in r.actions]
    bins = [0] * 10
    for q in qs:
        bins[min(9, max(0, int(q * 10)))] += 1
    sources: dict[str, int] = {}
    runs: dict[str, int] = {}
    edited = 0
    for r in records:
        sources[r.provenance.source] = sources.get(r.provenance.source, 0) + 1
        for run in r.provenance.run_ids:
            runs[run] = runs.get(run, 0) + 1
        edited += bool(r.provenance.edits)
    return {
        "path": str(memory.path or getattr(memory, "url", None)), "namespace": memory.namespace, "embedding_model": memory.embedder.model_id,
        **memory.stats(),
        "tasks": len({r.task for r in records}),
        "q_histogram": {"edges": [i / 10 for i in range(11)], "counts": bins},
        "sources": sources,
        "runs": dict(sorted(runs.items(), key=lambda kv: -kv[1])[:20]),
        "edited_records": edited,
        "last_update": max((r.provenance.updated_at for r in records), default=None),
    }


SORTS: dict[str, Callable[[ExperienceRecord], Any]] = {
    "updated": lambda r: -r.provenance.updated_at,
    "visits": lambda r: -r.visits,
    "q": lambda r: -r.max_q,
    "task": lambda r: (r.task, r.observation),
}


def list_records(memory: ExperienceMemory, *, contains: str | None = None, sort: str = "updated",
                 limit: int | None = 20) -> list[ExperienceRecord]:
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}")
    needle = (contains or "").lower()
    records = [r for r in memory.records() if not needle or needle in r.task.lower() or needle in r.observation.lower()]
    records.sort(key=SORTS[sort])
    return records if limit is None else records[:limit]


def find(memory: ExperienceMemory, record_id: str) -> ExperienceRecord:
    """The record whose id starts with ``record_id`` (at least 6 characters, unambiguous)."""
    if len(record_id) < 6:
        raise ValueError("give at least 6 characters of the record id")
    matches = [r for r in memory.records() if r.id.startswith(record_id)]
    if not matches:
        raise ValueError(f"no record with id {record_id!r} in {memory.namespace}")
    if len(matches) > 1:
        raise ValueError(f"record id {record_id!r} is ambiguous ({len(matches)} records)")
    return matches[0]


@dataclass
class SearchHit:
    record: ExperienceRecord
    score: float
    task_similarity: float
    observation_similarity: float

    def as_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), "task_similarity": round(self.task_similarity, 4),
                "observation_similarity": round(self.observation_similarity, 4), **record_dict(self.record)}


def search(memory: ExperienceMemory, query: str, *, k: int = 10) -> list[SearchHit]:
    """Records by meaning: the query's embedding against each record's task and observation;
    the score is the better of the two cosines, so a query can name a goal or describe a state."""
    if not query.strip():
        raise ValueError("the search query is empty")
    records = list(memory.records())
    if not records:
        return []
    vector = memory.embedder.embed_documents([query])[0]
    texts = [r.task for r in records] + [r.observation for r in records]
    vectors = memory.embedder.embed_documents(texts)
    n = len(records)
    hits = []
    for i, record in enumerate(records):
        t, o = cosine(vector, vectors[i]), cosine(vector, vectors[n + i])
        hits.append(SearchHit(record, max(t, o), t, o))
    hits.sort(key=lambda h: -h.score)
    return hits[:k]


def record_dict(record: ExperienceRecord) -> dict[str, Any]:
    data = record.model_dump(exclude={"applied_updates"})
    data["id"] = record.id
    data["max_q"] = record.max_q
    data["pinned"] = record.pinned
    return data


# ---------------------------------------------------------------------------------- writing
def _log_edit(memory: ExperienceMemory, entry: dict[str, Any]) -> None:
    if memory.path is None:
        return
    with open(Path(memory.path) / EDIT_LOG, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def edit(memory: ExperienceMemory, record_id: str, action: str, *, q: float | None = None, reason: str | None = None,
         add: bool = False, editor: str = "cli") -> ExperienceRecord:
    """Set an action's Q and/or reason (``add=True`` adds a new action). The record's
    ``provenance.edits`` gets an ``edit:<editor>:<time>`` stamp (not a run id: the edit does not
    make the editor a contributor) and the full before/after goes to the edit log."""
    if q is None and reason is None:
        raise ValueError("nothing to edit: give a Q value and/or a reason")
    if q is not None and not (q == q and -1e6 < q < 1e6):
        raise ValueError(f"Q must be a finite number, got {q}")
    record = find(memory, record_id)
    before = record.model_copy(deep=True)
    entry = record.action(action)
    if entry is None:
        if not add:
            known = ", ".join(repr(a.action) for a in record.actions) or "none"
            raise ValueError(f"record {record.id[:10]} has no action {action!r} (actions: {known}); use --add to add it")
        entry = ActionValue(action=action)
        record.actions.append(entry)
    if q is not None:
        entry.q = float(q)
    if reason is not None:
        entry.reason = reason
    entry.updated_at = time.time()
    stamp = f"{EDIT_PREFIX}{editor}:{_stamp()}"
    record.provenance.add_edit(stamp)
    memory.upsert([record])
    _log_edit(memory, {"at": stamp, "namespace": memory.namespace, "record_id": record.id, "action": action,
                       "before": (before.action(action) or ActionValue(action=action)).model_dump(),
                       "after": entry.model_dump()})
    return record


def delete_records(memory: ExperienceMemory, *, record_id: str | None = None, run_id: str | None = None,
                   dry_run: bool = False) -> dict[str, Any]:
    """Delete one record, or what one run contributed.

    A run's contribution: the records whose provenance names that run and no other run or pool
    (they exist because of it). Hand edits are provenance, not runs: a record only that run
    produced and a person then edited is still that run's, is deleted, and is counted in
    ``edited`` (its edits' before/after stay in the edit log). Records other runs or a pool also
    wrote keep their merged statistics (a Q average cannot be un-mixed) and are reported as
    ``kept_shared``; annotated (pinned) records are never deleted by run."""
    if (record_id is None) == (run_id is None):
        raise ValueError("give either a record id or --run")
    if record_id is not None:
        victims = [find(memory, record_id)]
        shared: list[ExperienceRecord] = []
    else:
        if run_id.startswith(EDIT_PREFIX):
            raise ValueError(f"{run_id!r} is a hand edit, not a run: edits contribute no record. Undo one with "
                             f"`rememberer memory edit` (the value before it is in {EDIT_LOG}), or delete the record by id")
        touched = [r for r in memory.records() if run_id in r.provenance.run_ids]
        if not touched:
            raise ValueError(f"no record mentions run {run_id!r}")
        victims = [r for r in touched if set(r.provenance.run_ids) == {run_id} and not r.pinned]
        shared = [r for r in touched if r not in victims]
    if not dry_run:
        for r in victims:
            memory.delete(r.task, r.observation)
    return {"deleted": len(victims), "edited": sum(1 for r in victims if r.provenance.edits), "kept_shared": len(shared),
            "dry_run": dry_run, "ids": [r.id for r in victims]}


def validate_export(path: str | Path) -> tuple[dict[str, Any], list[ExperienceRecord]]:
    """Read and validate an export completely (every record) before anything is written."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MemoryStoreError(f"export not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise MemoryStoreError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT or not isinstance(data.get("records"), list):
        raise MemoryStoreError(f"{path} is not a memory export (format {EXPORT_FORMAT!r}); pools load with the task set")
    records = []
    for i, raw in enumerate(data["records"]):
        try:
            records.append(ExperienceRecord.model_validate(raw))
        except Exception as exc:  # pydantic's ValidationError, one line
            first = str(exc).splitlines()
            raise MemoryStoreError(f"{path}: record {i} is invalid ({' '.join(first[:3])}); nothing imported") from None
    keys = [r.id for r in records]
    if len(set(keys)) != len(keys):
        raise MemoryStoreError(f"{path}: duplicate (task, observation) keys; nothing imported")
    return data, records


def read_export(path: str | Path, namespace: str) -> list[ExperienceRecord]:
    """The validated records of an export meant for ``namespace`` (checked before any memory is
    opened, so a refused import creates nothing, not even an empty collection)."""
    data, records = validate_export(path)
    if data.get("namespace") not in (None, namespace):
        raise MemoryStoreError(f"{path} holds namespace {data['namespace']!r}, not {namespace!r}; use --namespace")
    return records


def import_export(memory: ExperienceMemory, path: str | Path, *, replace: bool = False) -> dict[str, Any]:
    """Load what :meth:`ExperienceMemory.export` wrote: all records validated first, then written
    in one upsert. Existing keys are kept unless ``replace``."""
    records = read_export(path, memory.namespace)
    present = memory.get_many([r.key for r in records])
    chosen = records if replace else [r for r in records if r.id not in present]
    if chosen:
        memory.upsert(chosen)
    return {"read": len(records), "written": len(chosen), "skipped_existing": len(records) - len(chosen)}


def prune(memory: ExperienceMemory, *, older_than_days: float | None = None, max_visits: int | None = None,
          max_q: float | None = None, include_pinned: bool = False, dry_run: bool = False) -> dict[str, Any]:
    """Delete records matching every given criterion: not updated for ``older_than_days``, at
    most ``max_visits`` visits, best Q at most ``max_q``. Annotated (pinned) records are kept
    unless ``include_pinned``."""
    if older_than_days is None and max_visits is None and max_q is None:
        raise ValueError("give at least one of --older-than-days, --max-visits, --max-q")
    now = time.time()

    def matches(r: ExperienceRecord) -> bool:
        if r.pinned and not include_pinned:
            return False
        if older_than_days is not None and now - r.provenance.updated_at < older_than_days * 86400:
            return False
        if max_visits is not None and r.visits > max_visits:
            return False
        return not (max_q is not None and r.max_q > max_q)

    victims = [r for r in memory.records() if matches(r)]
    if not dry_run:
        for r in victims:
            memory.delete(r.task, r.observation)
    return {"deleted": len(victims), "dry_run": dry_run, "ids": [r.id for r in victims]}


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def merge(keep: ExperienceRecord, other: ExperienceRecord) -> ExperienceRecord:
    """Fold ``other`` into ``keep``: per action, visits add up and Q and mean reward become the
    visit-weighted means (what RLEM's 1/N average would have given had both been one record);
    the reason of the more-visited entry wins; provenance and applied updates are united."""
    merged = keep.model_copy(deep=True)
    for theirs in other.actions:
        mine = merged.action(theirs.action)
        if mine is None:
            merged.actions.append(theirs.model_copy())
            continue
        n1, n2 = max(mine.visits, 1), max(theirs.visits, 1)
        mine.q = (mine.q * n1 + theirs.q * n2) / (n1 + n2)
        mine.mean_reward = (mine.mean_reward * n1 + theirs.mean_reward * n2) / (n1 + n2)
        if theirs.visits > mine.visits:
            mine.reason = theirs.reason or mine.reason
        mine.visits = mine.visits + theirs.visits
        mine.updated_at = max(mine.updated_at, theirs.updated_at)
    merged.visits += other.visits
    merged.total_reward += other.total_reward
    merged.applied_updates = list(dict.fromkeys(merged.applied_updates + other.applied_updates))
    p, q = merged.provenance, other.provenance
    for name in ("run_ids", "episode_ids", "models", "edits"):
        setattr(p, name, list(dict.fromkeys(getattr(p, name) + getattr(q, name))))
    p.created_at = min(p.created_at, q.created_at)
    p.updated_at = max(p.updated_at, q.updated_at)
    if q.source == "annotated":
        p.source = "annotated"
    return merged


def dedup(memory: ExperienceMemory, *, threshold: float = 0.98, dry_run: bool = False) -> dict[str, Any]:
    """Merge near-duplicate keys.

    Rule: two records are near-duplicates when their tasks are equal after lower-casing and
    collapsing whitespace, and their observations are equal the same way or the task set's
    observation similarity between them is at least ``threshold``. Within a group the record
    with the most visits is kept (ties: the older) and the others are folded into it with
    :func:`merge`, then deleted."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError("threshold must be in (0, 1]")
    by_task: dict[str, list[ExperienceRecord]] = {}
    for r in memory.records():
        by_task.setdefault(_normal(r.task), []).append(r)
    groups: list[list[ExperienceRecord]] = []
    for records in by_task.values():
        records.sort(key=lambda r: (-r.visits, r.provenance.created_at))
        used: set[str] = set()
        for i, head in enumerate(records):
            if head.id in used:
                continue
            group = [head]
            for other in records[i + 1:]:
                if other.id in used:
                    continue
                same = _normal(other.observation) == _normal(head.observation)
                if same or memory.observation_similarity(head.observation, other.observation) >= threshold:
                    group.append(other)
                    used.add(other.id)
            if len(group) > 1:
                used.add(head.id)
                groups.append(group)
    merged_away = 0
    for head, *others in groups:
        folded = head
        for other in others:
            folded = merge(folded, other)
        if not dry_run:
            memory.upsert([folded])
            for other in others:
                memory.delete(other.task, other.observation)
        merged_away += len(others)
    return {"groups": len(groups), "merged_away": merged_away, "dry_run": dry_run,
            "kept": [g[0].id for g in groups]}


def export(memory: ExperienceMemory, path: str | Path) -> int:
    return memory.export(path)


__all__ = ["EDIT_LOG", "EXPORT_FORMAT", "SearchHit", "delete_records", "dedup", "edit", "export", "find", "import_export",
           "list_records", "merge", "namespaces_of", "open_memory", "prune", "read_export", "record_dict", "search", "summary", "validate_export"]


