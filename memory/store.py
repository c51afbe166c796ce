"""The experience memory on Chroma.

One Chroma collection per namespace (usually the task set). Each record is one Chroma entry:

* id: a hash of the exact key ``(task, observation)``, so exact lookup and upsert are cheap;
* embedding: the task text's embedding, so task similarity is an ANN query, not a re-encoding
  of every stored record per step (as the original did);
* metadata: the key strings, the record as JSON, and a few scalar fields (visits, max Q,
  update time, pinned) for filtering and eviction.

The embedding model id and dimension and the schema version are written into the collection
metadata when it is created; opening it with another embedder is an error, not a silent mix.

Writes: an episode's whole backup is computed first and written with one ``upsert`` call
(one transaction), under a file lock so that several processes can share a directory. Backups
of one process that queue behind that lock are written together by the next holder (group
commit, see :meth:`ExperienceMemory.apply_episode`). Each
transition carries an id ``episode:step`` that the record remembers, so replaying an
episode's backup after a crash or a retry changes nothing.

Capacity: at most ``max_actions`` actions per record (see :func:`rlem.prune_actions`) and
``max_records`` records per memory. When a write would exceed ``max_records``, the least
recently updated records that are not pinned are evicted first (ties: fewer visits first).
Annotated initial records are pinned and never evicted. (The original silently dropped every
new key once full, which freezes learning.) The victims come from the eviction index of
:mod:`eviction` (unpinned records by last update, in a side collection read by id), so an
eviction costs in proportion to the records it evicts, not to the store; it is maintained in the
same write, under the same lock, and frees ``evict_slack`` of the capacity (at least 64
records, at most a quarter and at most ``EVICT_SLACK_MAX``) at once. ``eviction_index=False``
uses the scan of every unpinned record's metadata it replaced (the reference the tests compare
it with).

Integrity (see the README's "Reliability"): every write path (``apply_episode``, ``upsert``,
``import_pool``) validates each record first (finite numbers, visits ≥ 0, the size caps of
:mod:`records`) and refuses the whole write with one error naming the value; lone surrogates
are replaced by U+FFFD. A manifest beside Chroma's files (:mod:`manifest`) makes an emptied or
truncated store an error instead of a new empty memory. Reads skip a record that cannot be
decoded and report it in :attr:`ExperienceMemory.skipped`; :meth:`ExperienceMemory.repair`
moves such records to a quarantine file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hashlib
import heapq
import math
import os
import sys

from pydantic import ValidationError

from . import manifest
from .embeddings import MiniLMEmbedder, TextEmbedder
from .eviction import EvictionIndex, eviction_order, index_name
from .manifest import MemoryStoreError
from .records import (
    SCHEMA_VERSION,
    CorruptRecordError,
    ExperienceRecord,
    InvalidRecordError,
    Provenance,
    cap_reason,
    clean_text,
    describe_validation_error,
    record_id,
)
from .rlem import Episode, RLEMConfig, UpdatePlan, plan_episode_update
from .similarity import ObservationSimilarity, combine, cosine_from_distance, exact_match

POOL_FORMAT = "rememberer-pool/1"

SAME_TASK_DISTANCE = 1e-3
"""Cosine distance within which a record's task embedding counts as the query task's own
(identical texts give 0 up to float32 rounding, about 1e-7)."""

EVICT_SLACK_MAX = 1000
"""The most records one eviction frees beyond the overflow. Chroma deletes about 1.5 to 2.2 ms a
record on a large store, so 1 % of a 1M capacity (10,000 records) paused the backup that evicted
for 18 to 19 s; with this bound it frees 1,000 ten times as often, the same total work."""


class IncompatibleMemoryError(MemoryStoreError):
    """The store was written with another embedding model or a newer schema."""


@dataclass
class _ReadCache:
    """What :meth:`ExperienceMemory.retrieve` may reuse while the write generation holds."""

    generation: Any
    records: dict[str, ExperienceRecord | None] = field(default_factory=dict)
    neighbours: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    same_task: dict[str, tuple[list[str], bool]] = field(default_factory=dict)
    """task → (ids of its records, whether that is every one of them)."""
    absent: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ScoredRecord:
    record: ExperienceRecord
    score: float
    task_similarity: float
    observation_similarity: float


@dataclass
class UpdateReport:
    episode_id: str
    records_written: int
    new_records: int
    skipped_transitions: int
    evicted: int
    targets: list[float] = field(default_factory=list)
    bootstraps: dict[str, int] = field(default_factory=dict)


def collection_name(namespace: str) -> str:
    """The Chroma collection of a namespace. Chroma wants 3–512 characters of [a-zA-Z0-9._-];
    a namespace that had to be changed to fit gets a hash suffix, so ``my task`` and
    ``my-task`` never share a collection."""
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "._-" else "-" for ch in namespace).strip("-._")
    if safe == namespace and 0 < len(safe) <= 200:
        return f"rememberer-{safe}"
    digest = hashlib.sha256(namespace.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"rememberer-{safe[:200].strip('-._') or 'ns'}-{digest}"


_collection_name = collection_name  # the old private name


def record_stats(records: Iterable[ExperienceRecord]) -> dict[str, Any]:
    count = pinned = actions = positive = visits = 0
    for r in records:
        count += 1
        pinned += r.pinned
        actions += len(r.actions)
        positive += r.max_q > 0
        visits += r.visits
    return {
        "records": count,
        "pinned": pinned,
        "actions": actions,
        "mean_actions_per_record": (actions / count) if count else 0.0,
        "positive_q_records": positive,
        "visits": visits,
    }


def write_export(
    path: str | Path, namespace: str, embedding_model: str | None, records: Iterable[ExperienceRecord], skipped: dict[str, str]
) -> int:
    """Write records to a JSON file atomically (temporary file, then rename)."""
    target = Path(path)
    dumped = [r.model_dump() for r in records]
    payload = {
        "format": "rememberer-memory/1",
        "namespace": namespace,
        "embedding_model": embedding_model,
        "records": dumped,
        "skipped_corrupt": sorted(skipped),
    }
    tmp = target.with_suffix(target.suffix + ".tmp")
    tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(target)
    return len(dumped)


def clean_episode(episode: Episode) -> Episode:
    """The episode with strings cleaned (lone surrogates → U+FFFD), reasons capped, and every
    reward checked finite. Raises :class:`InvalidRecordError` naming the step otherwise."""
    transitions = []
    for t, tr in enumerate(episode.transitions):
        if not isinstance(tr.reward, (int, float)) or not math.isfinite(tr.reward):
            raise InvalidRecordError(
                f"refused to write episode {episode.episode_id}: step {t} reward = {tr.reward!r} is not a finite number"
            )
        transitions.append(
            dataclasses.replace(
                tr,
                task=clean_text(tr.task),
                observation=clean_text(tr.observation),
                action=clean_text(tr.action),
                reward=float(tr.reward),
                reason=cap_reason(tr.reason),
                action_history=tuple(clean_text(a) for a in tr.action_history),
                valid_actions=tuple(clean_text(a) for a in tr.valid_actions),
            )
        )
    return dataclasses.replace(
        episode, transitions=tuple(transitions), final_observation=clean_text(episode.final_observation)
    )


@dataclass
class _Pending:
    """One episode's backup waiting for the write lock, and its outcome."""

    episode: Episode
    config: RLEMConfig
    report: UpdateReport | None = None
    error: BaseException | None = None
    finished: bool = False


def _groups(queued: list[_Pending]) -> list[list[_Pending]]:
    """Consecutive Monte-Carlo backups form one group; a bootstrapping one is a group alone."""
    groups: list[list[_Pending]] = []
    for item in queued:
        if item.config.n_step is None and groups and groups[-1][-1].config.n_step is None:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


class _Overlay:
    """The store as the episodes planned so far in a group left it (their records unwritten)."""

    def __init__(self, store: ExperienceMemory):
        self.store = store
        self.records: dict[str, ExperienceRecord] = {}

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[str, ExperienceRecord]:
        ids = {record_id(t, o): (t, o) for t, o in keys}
        out = {rid: self.records[rid].model_copy(deep=True) for rid in ids if rid in self.records}
        rest = [key for rid, key in ids.items() if rid not in out]
        if rest:
            out.update(self.store.get_many(rest))
        return out

    def best_match(self, task: str, observation: str) -> ExperienceRecord | None:
        return self.store.best_match(task, observation)  # only n-step backups call it; they are not grouped

    def put(self, records: Sequence[ExperienceRecord]) -> None:
        for record in records:
            self.records[record.id] = record


class ExperienceMemory:
    """Persistent experience memory of (task, observation) → per-action Q statistics."""

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        namespace: str = "default",
        embedder: TextEmbedder | None = None,
        observation_similarity: ObservationSimilarity | None = None,
        task_weight: float = 0.5,
        max_records: int = 5000,
        max_actions: int = 20,
        candidate_pool: int = 64,
        client: Any = None,
        url: str | None = None,
        evict_slack: float = 0.01,
        eviction_index: bool = True,
    ):
        if not 0.0 <= task_weight <= 1.0:
            raise ValueError(f"task_weight must be in [0, 1], got {task_weight}")
        if url is None and client is None:
            url = os.environ.get("REMEMBERER_MEMORY_URL") or None
        # A memory on a Chroma server has no local directory (and no manifest: the server owns the files).
        self.path = Path(path).expanduser().resolve() if path is not None and url is None else None
        self.namespace = namespace
        self.embedder: TextEmbedder = embedder or MiniLMEmbedder()
        self.observation_similarity = observation_similarity or exact_match
        self.task_weight = task_weight
        self.max_records = max_records
        self.max_actions = max_actions
        self.candidate_pool = candidate_pool
        self.evict_slack = evict_slack
        self.eviction_index = eviction_index
        """Find eviction victims with the index of :mod:`eviction` (cost ∝ records evicted);
        False: the scan of every unpinned record's metadata it replaces (kept as the reference)."""
        self._index_collection: Any = None
        self._replaced_entries: dict[str, float] = {}
        """Index entries of record versions the last write replaced: removed together with the
        next write's new entries, so a write costs one index write, not two (lost on a crash or
        at exit, they are stale entries, which evictions drop)."""
        self.url = url
        self.skipped: dict[str, str] = {}
        """Records a read skipped because they cannot be decoded: id → error (see :meth:`repair`)."""
        self._thread_lock = threading.RLock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        """Episodes waiting for the write lock (see :meth:`apply_episode`)."""
        self._embedding_cache: OrderedDict[str, list[float]] = OrderedDict()
        self._local_generation = 0
        self._read_cache: _ReadCache | None = None
        self._client = client if client is not None else self._open_client()
        self._collection = self._open_collection()

    # ------------------------------------------------------------------ opening
    def _open_client(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        if self.url is not None:
            return _http_client(self.url, settings)
        if self.path is None:
            return chromadb.EphemeralClient(settings=settings)
        if self.path.exists() and not self.path.is_dir():
            raise MemoryStoreError(f"memory path {self.path} exists and is not a directory")
        if self.path.is_dir():
            manifest.check_files(self.path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.path), settings=settings)
        except Exception as exc:  # chromadb raises many kinds on a corrupt directory
            raise MemoryStoreError(
                f"cannot open memory at {self.path}: {type(exc).__name__}: {exc}. "
                "It may be corrupt or written by an incompatible Chroma version; "
                "use another --memory-dir or restore it from an export."
            ) from None

    def _open_collection(self) -> Any:
        name = collection_name(self.namespace)
        self.collection_name = name
        wanted = {
            "hnsw:space": "cosine",
            "rememberer_schema": SCHEMA_VERSION,
            "embedding_model": self.embedder.model_id,
            "embedding_dim": int(self.embedder.dimension),
            "namespace": self.namespace,
        }
        try:
            try:
                collection = self._client.get_collection(name, embedding_function=None)
                present = True
            except Exception:  # NotFoundError (embedded) / ValueError or HTTP errors (server)
                collection, present = None, False
            if self.path is not None:
                manifest.check_collection(self.path, name, present, collection.count() if present else 0)
            if collection is None:
                collection = self._client.get_or_create_collection(name, metadata=wanted, embedding_function=None)
                self._collection = collection
                with self._write_lock():  # a new memory is indexed from its first record
                    index = self._index(create=self.eviction_index)
                    if index is not None and not index.built():
                        index.rebuild({})
        except MemoryStoreError:
            raise
        except Exception as exc:
            raise MemoryStoreError(f"cannot open collection {name!r} in {self.path or self.url}: {exc}") from None
        meta = collection.metadata or {}
        if meta.get("namespace", self.namespace) != self.namespace:
            raise MemoryStoreError(
                f"collection {name!r} belongs to namespace {meta.get('namespace')!r}, not {self.namespace!r}"
            )
        if meta.get("embedding_model") != self.embedder.model_id or int(meta.get("embedding_dim", -1)) != int(
            self.embedder.dimension
        ):
            raise IncompatibleMemoryError(
                f"memory {self.path or '(in-memory)'}:{self.namespace} was built with embeddings "
                f"{meta.get('embedding_model')!r} (dim {meta.get('embedding_dim')}), but this run uses "
                f"{self.embedder.model_id!r} (dim {self.embedder.dimension}). Use the same embedder "
                "or another memory directory."
            )
        if int(meta.get("rememberer_schema", 0)) > SCHEMA_VERSION:
            raise IncompatibleMemoryError(
                f"memory {self.path}:{self.namespace} has schema {meta.get('rememberer_schema')}; "
                f"this version of rememberer reads up to {SCHEMA_VERSION}"
            )
        return collection

    @contextlib.contextmanager
    def _write_lock(self) -> Iterator[None]:
        """Serialise read-modify-write cycles across threads and processes."""
        with self._thread_lock:
            if self.url is not None:
                with self._server_lock():
                    yield
                return
            if self.path is None:
                yield
                return
            with open(self.path / ".rememberer.lock", "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    server_lease_seconds = 60.0
    """A server write lock older than this is taken over (its holder is presumed dead)."""

    @contextlib.contextmanager
    def _server_lock(self) -> Iterator[None]:
        """Mutual exclusion across processes and hosts sharing one Chroma server.

        Chroma's ``add`` inserts an id only if it is absent and the server applies writes in
        one order, so "add the lock record with my token, read it back, is it mine?" is a
        compare-and-set. The holder deletes it with ``where`` on its own token; a lock older
        than :attr:`server_lease_seconds` is taken over the same way.
        """
        import random
        import socket
        import uuid

        self._generation_locks()
        token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
        lock_id = f"write:{self.collection_name}"
        delay = 0.005
        deadline = time.monotonic() + 10 * self.server_lease_seconds
        while True:
            self._locks.add(ids=[lock_id], embeddings=[[0.0]], metadatas=[{"owner": token, "at": time.time()}])
            held = self._locks.get(ids=[lock_id], include=["metadatas"])["metadatas"]
            if held and held[0].get("owner") == token:
                break
            if held and time.time() - float(held[0].get("at", 0.0)) > self.server_lease_seconds:
                self._locks.delete(ids=[lock_id], where={"owner": held[0]["owner"]})
                continue
            if time.monotonic() > deadline:
                raise MemoryStoreError(f"memory server {self.url}: could not take the write lock of {self.namespace!r}")
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.2)
        try:
            yield
        finally:
            self._locks.delete(ids=[lock_id], where={"owner": token})

    def _after_write(self, records: int | None = None) -> None:
        """After every committed write, under the write lock: a new write generation (what
        tells readers in any process that their cached records are stale) and, for a directory,
        the committed state in the manifest (which holds the generation there)."""
        self._local_generation += 1
        self._read_cache = None
        if self.url is not None:
            self._generation_locks().upsert(ids=[self._generation_id], embeddings=[[0.0]],
                                            metadatas=[{"generation": f"{os.getpid()}:{time.time_ns()}:{self._local_generation}"}])
            return
        if self.path is None:
            return
        manifest.write_manifest(
            self.path,
            self.collection_name,
            {
                "namespace": self.namespace,
                "records": len(self) if records is None else records,
                "schema": SCHEMA_VERSION,
                "embedding_model": self.embedder.model_id,
            },
        )

    def _generation_locks(self) -> Any:
        """The server's ``rememberer-locks`` collection: write locks and write generations."""
        if not hasattr(self, "_locks"):
            self._locks = self._client.get_or_create_collection(
                "rememberer-locks", metadata={"hnsw:space": "l2"}, embedding_function=None
            )
        return self._locks

    @property
    def _generation_id(self) -> str:
        return f"generation:{self.collection_name}"

    def _generation(self) -> Any:
        """The committed write generation as every process sees it: the manifest's counter (a
        directory), the server's generation record (a server), or this object's (in memory)."""
        if self.url is not None:
            found = self._generation_locks().get(ids=[self._generation_id], include=["metadatas"])["metadatas"]
            return found[0].get("generation") if found else None
        if self.path is not None:
            data = manifest.read_manifest(self.path) or {"collections": {}}
            entry = data["collections"].get(self.collection_name) or {}
            return entry.get("generation", 0), entry.get("updated_at")
        return self._local_generation

    def _cache(self) -> "_ReadCache":
        """Decoded records and same-task candidate lists, valid while the write generation is
        unchanged. The generation is read *before* any record, and every write commits its
        records before it moves the generation, so a cache can only be older than the store
        for as long as the generation has not moved yet; then it is dropped whole."""
        generation = self._generation()
        cache = self._read_cache
        if cache is None or cache.generation != generation or len(cache.records) > self.read_cache_records:
            cache = self._read_cache = _ReadCache(generation)
        return cache

    read_cache_records = 50_000
    """Decoded records kept for retrieval before the cache starts afresh."""

    # ------------------------------------------------------------------ embeddings
    def embed_task(self, task: str) -> list[float]:
        cached = self._embedding_cache.get(task)
        if cached is None:
            cached = self.embedder.embed_documents([task])[0]
            self._embedding_cache[task] = cached
            if len(self._embedding_cache) > 4096:
                self._embedding_cache.popitem(last=False)
        else:
            self._embedding_cache.move_to_end(task)
        return cached

    same_task_limit = 1000
    """Records of the same task fetched as retrieval candidates (the exact state is always added)."""

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return int(self._collection.count())

    def _decode(self, rid: str, metadata: dict[str, Any] | None) -> ExperienceRecord:
        if not metadata or "payload" not in metadata:
            raise CorruptRecordError(f"record {rid} in {self.path}:{self.namespace} has no payload")
        return ExperienceRecord.from_json(str(metadata["payload"]), where=rid)

    def get(self, task: str, observation: str) -> ExperienceRecord | None:
        return self.get_many([(task, observation)]).get(record_id(task, observation))

    def _decode_or_skip(self, rid: str, metadata: dict[str, Any] | None) -> ExperienceRecord | None:
        try:
            return self._decode(rid, metadata)
        except CorruptRecordError as exc:
            if rid not in self.skipped:
                print(f"rememberer: warning: skipping {exc} (run `rememberer memory repair`)", file=sys.stderr)
            self.skipped[rid] = str(exc)
            return None

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[str, ExperienceRecord]:
        """Exact lookups. A corrupt record here is an error (a write must not silently
        replace it); :meth:`repair` quarantines it."""
        ids = sorted({record_id(t, o) for t, o in keys})
        if not ids:
            return {}
        found = self._collection.get(ids=ids, include=["metadatas"])
        out = {}
        for rid, meta in zip(found["ids"], found["metadatas"]):
            try:
                out[rid] = self._decode(rid, meta)
            except CorruptRecordError as exc:
                raise CorruptRecordError(f"{exc}; run `rememberer memory repair` to quarantine it") from None
        return out

    def _pages(self, batch: int = 500, **where: Any) -> Iterator[tuple[list[str], list[dict[str, Any]]]]:
        offset = 0
        while True:
            page = self._collection.get(include=["metadatas"], limit=batch, offset=offset, **where)
            if not page["ids"]:
                return
            yield page["ids"], page["metadatas"]
            offset += len(page["ids"])

    def records(self, batch: int = 500) -> Iterator[ExperienceRecord]:
        """Every decodable record, in storage order (corrupt ones land in :attr:`skipped`)."""
        for ids, metas in self._pages(batch):
            for rid, meta in zip(ids, metas):
                record = self._decode_or_skip(rid, meta)
                if record is not None:
                    yield record

    def _ann_query(self, task: str) -> dict[str, Any]:
        """The ANN window of ``task`` (ids and distances). A Chroma server answers a query on a
        collection whose vector index has not been written yet ("Nothing found on disk": empty,
        or its first records not yet indexed) with an error instead of no ids: empty is an empty
        answer, otherwise the query is retried for up to 5 s while the server indexes."""
        from chromadb.errors import InternalError

        deadline = time.monotonic() + 5.0
        while True:
            try:
                return self._collection.query(query_embeddings=[self.embed_task(task)], n_results=self.candidate_pool,
                                              include=["distances"])
            except InternalError as exc:
                if "Nothing found on disk" not in str(exc):
                    raise
                if self._collection.count() == 0:
                    return {"ids": [], "distances": []}
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def retrieve(self, task: str, observation: str, k: int = 8) -> list[ScoredRecord]:
        """The ``k`` records most similar to the key, best first.

        Candidates are the ANN neighbours of the task embedding plus every record of the same
        task (so a task with many stored states cannot crowd the exact state out of the ANN
        window) plus the exact stored state; they are scored with the task set's combined
        similarity and sorted by (score, action visits), as the original ranks exemplars, except that
        the exact stored state comes first among records of its score.

        Cost: one ANN query for ids and distances only, once per task and write generation;
        records come decoded from a cache valid for that generation (:meth:`_cache`), so only
        records not seen since the last write anywhere are fetched. The same-task records are
        the window's own when the window reaches past the task (its farthest neighbour is not
        at distance 0, so every record with the task's embedding is nearer, up to the ANN
        index's recall); only a task that fills the window is looked up in the metadata (once
        per generation). No ``count()``: an empty store answers the query with no ids.
        """
        if k <= 0:
            return []
        cache = self._cache()
        neighbours = cache.neighbours.get(task)
        if neighbours is None:  # the ANN window depends on the task alone: once per task and generation
            hits = self._ann_query(task)
            neighbours = cache.neighbours[task] = list(zip(hits["ids"][0], hits["distances"][0])) if hits["ids"] else []
        if not neighbours:
            return []
        candidates: dict[str, float] = {}
        for rid, dist in neighbours:
            candidates[rid] = cosine_from_distance(dist)
        self._fetch(cache, [rid for rid in candidates if rid not in cache.records and rid not in cache.absent])
        entry = cache.same_task.get(task)
        if entry is None:
            if len(neighbours) < self.candidate_pool or neighbours[-1][1] > SAME_TASK_DISTANCE:
                # The window reaches past every record of the task (one task text, one embedding:
                # distance 0), so they are all in it already: no query over the metadata.
                ids = [rid for rid, _ in neighbours if (r := cache.records.get(rid)) is not None and r.task == task]
                entry = (ids, False)
            else:  # the task fills the window: its other states come from the metadata
                ids = self._collection.get(where={"task": task}, include=[], limit=self.same_task_limit)["ids"]
                entry = (ids, len(ids) < self.same_task_limit)
            cache.same_task[task] = entry
        same_task, every_state = entry
        for rid in same_task:
            candidates[rid] = 1.0
        # The exact stored state is always a candidate, however many states the task has. A
        # same-task page shorter than its limit holds every state of the task: then a state not
        # in it is not stored, and needs no lookup; otherwise it is looked up by id.
        exact_id = record_id(task, observation)
        wanted = [rid for rid in candidates if rid not in cache.records and rid not in cache.absent]
        if (exact_id not in candidates and not every_state
                and exact_id not in cache.records and exact_id not in cache.absent):
            wanted.append(exact_id)
        self._fetch(cache, wanted)
        if exact_id not in candidates and exact_id in cache.records:
            candidates[exact_id] = 1.0
        scored = []
        for rid, task_sim in candidates.items():
            record = cache.records.get(rid)
            if record is None:  # undecodable (listed in `skipped`), or deleted since the query
                continue
            obs_sim = float(self.observation_similarity(observation, record.observation))
            task_sim = max(0.0, min(1.0, task_sim))
            score = combine(task_sim, obs_sim, self.task_weight)
            scored.append(ScoredRecord(record, score, task_sim, obs_sim))
        # Ties go to the stored state itself, then to the more visited: a coarse matcher can
        # tie more than k states at the top score, and the exact one must not fall out.
        scored.sort(key=lambda s: (-s.score, s.record.observation != observation or s.record.task != task,
                                   -s.record.action_visits))
        return scored[:k]

    def _fetch(self, cache: "_ReadCache", ids: list[str]) -> None:
        """Decode the records ``ids`` into the cache (ids not stored are remembered as absent)."""
        if not ids:
            return
        found = self._collection.get(ids=ids, include=["metadatas"])
        for rid, meta in zip(found["ids"], found["metadatas"]):
            cache.records[rid] = self._decode_or_skip(rid, meta)
        cache.absent.update(rid for rid in ids if rid not in cache.records)

    def best_match(self, task: str, observation: str) -> ExperienceRecord | None:
        """The most similar record (used for the similarity-based n-step bootstrap)."""
        top = self.retrieve(task, observation, k=1)
        return top[0].record if top else None

    # ------------------------------------------------------------------ writing
    def _metadata(self, record: ExperienceRecord) -> dict[str, Any]:
        return {
            "task": record.task,
            "observation": record.observation,
            "payload": record.to_json(),
            "visits": record.visits,
            "max_q": record.max_q,
            "updated_at": record.provenance.updated_at,
            "pinned": record.pinned,
        }

    # ------------------------------------------------------------------ eviction
    def _index(self, create: bool = False) -> EvictionIndex | None:
        """The eviction index's side collection (None if absent and not ``create``)."""
        if self._index_collection is None:
            name = index_name(self.collection_name)
            try:
                if create:
                    self._index_collection = self._client.get_or_create_collection(
                        name, metadata={"hnsw:space": "l2"}, embedding_function=None)
                else:
                    self._index_collection = self._client.get_collection(name, embedding_function=None)
            except Exception:  # NotFoundError (embedded) / ValueError or HTTP errors (server)
                if create:
                    raise
                return None
        return EvictionIndex(self._index_collection)

    def _index_change(self, add: dict[str, float] | None = None, remove: dict[str, float] | None = None) -> bool:
        index = self._index() if self.eviction_index else None
        return index.change(add, remove) if index is not None else False

    def rebuild_eviction_index(self) -> int:
        """Index every unpinned record (one scan; done by the first eviction of a store written
        before the index existed). Returns the number of entries."""
        with self._write_lock():
            return self._rebuild_index()

    def _rebuild_index(self) -> int:
        entries = {}
        for ids, metas in self._pages(2000):
            for rid, meta in zip(ids, metas):
                if meta and not meta.get("pinned", False):
                    entries[rid] = float(meta.get("updated_at", 0.0) or 0.0)
        self._index(create=True).rebuild(entries)
        return len(entries)

    def eviction_index_report(self) -> dict[str, int]:
        """Check the eviction index against the records (a full scan, for tests and repairs):
        ``unindexed`` unpinned records without an entry for their last update (must be 0),
        ``stale`` entries (harmless; evictions drop the ones they meet)."""
        index = self._index()
        if index is None or not index.built():
            return {"built": 0, "entries": 0, "unindexed": -1, "stale": -1}
        entries: dict[str, set[float]] = {}
        count = 0
        for key, doc in index.documents():
            if key.startswith("b:"):
                for rid, t in doc.items():
                    entries.setdefault(rid, set()).add(t)
                    count += 1
        unindexed = live = 0
        for ids, metas in self._pages(2000):
            for rid, meta in zip(ids, metas):
                if meta.get("pinned", False):
                    continue
                live += 1
                stored = float(meta.get("updated_at", 0.0) or 0.0)
                unindexed += not any(abs(stored - t) <= 1e-3 for t in entries.get(rid, ()))
        return {"built": 1, "entries": count, "unindexed": unindexed, "stale": count - (live - unindexed)}

    def _validate_entries(self, entries: list[tuple[str, float]]) -> tuple[list[tuple], list[tuple[str, float]]]:
        """Index entries → (eviction sort keys of the valid ones, the stale ones): valid when the
        record exists, is not pinned and was last updated at the entry's time."""
        found = {}
        ids = list(dict.fromkeys(rid for rid, _ in entries))
        for start in range(0, len(ids), 2000):
            got = self._collection.get(ids=ids[start:start + 2000], include=["metadatas"])
            found.update(zip(got["ids"], got["metadatas"]))
        valid, stale = [], []
        for rid, t in entries:
            meta = found.get(rid)
            stored = float((meta or {}).get("updated_at", 0.0) or 0.0)
            # Chroma keeps about 16 significant digits of a float (1796473179.0614479 comes back
            # as 1796473179.061448): the same update is within a millisecond, another is not.
            if meta is None or meta.get("pinned", False) or abs(stored - t) > 1e-3:
                stale.append((rid, t))
            else:  # ordered by the stored values, as the scan orders them; the entry's own value to remove it
                valid.append((*eviction_order(stored, int(meta.get("visits", 0) or 0), rid), t))
        return valid, stale

    def _oldest_indexed(self, want: int, overflow: int) -> list[str]:
        index = self._index(create=True)
        if not index.built():
            self._rebuild_index()
            index = self._index()
        valid, stale = index.oldest(want, self._validate_entries)
        if len(valid) < overflow:  # records the index does not know (written by an older version): index them all
            self._rebuild_index()
            valid, stale = self._index().oldest(want, self._validate_entries)
        chosen = valid[:want]
        self._evicted_entries = [(str(rid), entry_t) for _, _, rid, entry_t in chosen] + stale
        return [str(rid) for _, _, rid, _ in chosen]

    def _oldest_by_scan(self, want: int) -> list[str]:
        """The reference rule, by a scan of every unpinned record's metadata (cost ∝ store)."""
        oldest: list[tuple[float, int, str]] = []  # max-heap (negated) of the `want` oldest
        for ids, metas in self._pages(2000, where={"pinned": False}):
            for rid, meta in zip(ids, metas):
                key = (-float(meta.get("updated_at", 0.0) or 0.0), -int(meta.get("visits", 0) or 0), rid)
                if len(oldest) < want:
                    heapq.heappush(oldest, key)
                elif key > oldest[0]:
                    heapq.heapreplace(oldest, key)
        return [rid for _, _, rid in sorted(oldest, reverse=True)]

    def _evict_for(self, incoming_new: int, total: int) -> int:
        overflow = total + incoming_new - self.max_records
        if overflow <= 0:
            return 0
        # Free a slack fraction at once, so that one eviction serves that many new records; at
        # most EVICT_SLACK_MAX, so the backup that evicts pauses about as long at any capacity.
        want = overflow + min(max(int(self.max_records * self.evict_slack), 64), self.max_records // 4, EVICT_SLACK_MAX)
        self._evicted_entries: list[tuple[str, float]] = []
        victims = self._oldest_indexed(want, overflow) if self.eviction_index else self._oldest_by_scan(want)
        if len(victims) < overflow:
            raise MemoryStoreError(
                f"memory {self.path or self.url}:{self.namespace} is full of pinned records "
                f"(max_records={self.max_records}); raise --max-records (max_records)"
            )
        for start in range(0, len(victims), 2000):
            self._collection.delete(ids=victims[start:start + 2000])
        if self._evicted_entries:  # after the delete: a crash in between leaves stale entries only
            self._index_change(remove=self._evicted_entries)
        return len(victims)

    def upsert(self, records: Sequence[ExperienceRecord]) -> int:
        """Write records as they are, in one call (new keys may trigger eviction)."""
        if not records:
            return 0
        with self._write_lock():
            return self._upsert_locked(records)

    def _upsert_locked(self, records: Sequence[ExperienceRecord], new_keys: int | None = None, validated: bool = False) -> int:
        if not validated:
            records = [r.validated() for r in records]  # all or nothing: refused before any write
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            raise ValueError("upsert got two records with the same key")
        stored = self._collection.get(ids=ids, include=["metadatas"])
        previous = {rid: float((meta or {}).get("updated_at", 0.0) or 0.0) for rid, meta in zip(stored["ids"], stored["metadatas"])}
        if new_keys is None:
            new_keys = sum(1 for rid in ids if rid not in previous)
        total = len(self)  # one count per write (it costs ~10 ms at 100k records)
        evicted = self._evict_for(new_keys, total)
        # The eviction index learns the new entries before the records are written and forgets
        # the replaced ones after (with the next write's new entries): a crash in between leaves
        # stale entries, never an unindexed record.
        fresh = {r.id: r.provenance.updated_at for r in records if not r.pinned}
        earlier, self._replaced_entries = self._replaced_entries, {}
        indexed = self._index_change(add=fresh, remove=earlier)
        self._collection.upsert(
            ids=ids,
            embeddings=[self.embed_task(r.task) for r in records],
            documents=[r.task for r in records],
            metadatas=[self._metadata(r) for r in records],
        )
        replaced = {rid: t for rid, t in previous.items() if fresh.get(rid) != t}
        if indexed and replaced:
            self._replaced_entries = replaced
        self._after_write(total - evicted + new_keys)
        return evicted

    def apply_episode(self, episode: Episode, config: RLEMConfig) -> UpdateReport:
        """Run the RLEM backup for one episode and write it atomically (idempotent).

        Group commit: episodes of this process that wait for the write lock while another one
        writes are applied together by the next holder, in their arrival order, with one write
        (:class:`_Pending`): the same records as one write each, fewer Chroma writes when many
        episodes end at once (``abatch``, ``--concurrency``). An episode that bootstraps
        (n-step) is applied on its own, since its bootstrap reads the ANN index.
        """
        if config.max_actions != self.max_actions:
            config = dataclasses.replace(config, max_actions=self.max_actions)
        mine = _Pending(clean_episode(episode), config)
        with self._queue_lock:
            self._queue.append(mine)
        with self._thread_lock:  # first the threads: one whose episode a group took needs no store lock
            if not mine.finished:
                with self._write_lock():
                    with self._queue_lock:
                        queued, self._queue = self._queue, []
                    try:
                        for group in _groups(queued):
                            self._apply_group(group)
                    except BaseException as exc:  # interrupted: no waiting episode is left without an outcome
                        for item in queued:
                            if not item.finished:
                                item.error, item.finished = exc, True
                        raise
        if mine.error is not None:
            raise mine.error
        assert mine.report is not None
        return mine.report

    def _apply_group(self, group: list[_Pending]) -> None:
        """Plan each episode of ``group`` on the records as the ones before it left them, then
        write them all at once (under the write lock). An episode whose records fail validation
        fails alone; a failed write fails the group."""
        overlay = _Overlay(self)
        planned: list[tuple[_Pending, UpdatePlan]] = []
        for item in group:
            try:
                plan = plan_episode_update(item.episode, overlay, item.config)
                records = [r.validated() for r in plan.records]
            except Exception as exc:  # noqa: BLE001 - handed to the episode's own caller
                item.error, item.finished = exc, True
                continue
            overlay.put(records)
            planned.append((item, plan))
        try:
            written = list(overlay.records.values())  # validated above
            new_keys = sum(plan.created for _, plan in planned)
            evicted = self._upsert_locked(written, new_keys=new_keys, validated=True) if written else 0
        except Exception as exc:  # noqa: BLE001
            for item, _ in planned:
                item.error, item.finished = exc, True
            return
        for index, (item, plan) in enumerate(planned):
            item.report = UpdateReport(
                episode_id=item.episode.episode_id,
                records_written=len(plan.records),
                new_records=plan.created,
                skipped_transitions=plan.skipped,
                evicted=evicted if index == 0 else 0,  # the group's write evicted for all of it
                targets=plan.targets,
                bootstraps=dict(plan.bootstraps),
            )
            item.finished = True

    def delete(self, task: str, observation: str) -> bool:
        rid = record_id(task, observation)
        with self._write_lock():
            present = bool(self._collection.get(ids=[rid], include=[])["ids"])
            if present:
                self._collection.delete(ids=[rid])
                self._after_write()
        return present

    def repair(self, quarantine_dir: str | Path | None = None) -> dict[str, Any]:
        """Move every record that cannot be decoded (or fails validation) out of the store.

        Each one is appended, raw, to ``quarantine/<time>.jsonl`` in the memory directory (or
        ``quarantine_dir``) before it is deleted, so nothing is lost. Returns what was moved.
        """
        with self._write_lock():
            bad: list[tuple[str, dict[str, Any] | None, str]] = []
            for ids, metas in self._pages(500):
                for rid, meta in zip(ids, metas):
                    try:
                        self._decode(rid, meta).validated(where=f"record {rid}")
                    except (CorruptRecordError, InvalidRecordError) as exc:
                        bad.append((rid, meta, str(exc)))
            target = None
            if bad:
                folder = Path(quarantine_dir) if quarantine_dir else (self.path or Path.cwd()) / "quarantine"
                folder.mkdir(parents=True, exist_ok=True)
                target = folder / f"{self.collection_name}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.jsonl"
                with open(target, "a", encoding="utf-8") as handle:
                    for rid, meta, error in bad:
                        handle.write(json.dumps({"id": rid, "error": error, "metadata": meta}, ensure_ascii=False, default=str) + "\n")
                    handle.flush()
                    os.fsync(handle.fileno())
                self._collection.delete(ids=[rid for rid, _, _ in bad])
                self._after_write()
            for rid, _, _ in bad:
                self.skipped.pop(rid, None)
        return {"quarantined": len(bad), "file": str(target) if target else None, "ids": [rid for rid, _, _ in bad]}

    # ------------------------------------------------------------------ pools, export
    def import_pool(self, path: str | Path, *, source: str = "annotated",
                    transform: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> int:
        """Load an initial experience pool (JSON); keys already present are left alone.

        ``transform`` maps each raw record before validation (a task's goal-relative keys).
        Returns the number of records added. Re-importing the same pool adds nothing.
        """
        data = _read_pool(path)
        now = time.time()
        records = []
        for i, raw in enumerate(data["records"]):
            try:
                if transform is not None:
                    raw = transform(raw)
                record = ExperienceRecord(
                    task=raw["task"],
                    observation=raw["observation"],
                    action_history=list(raw.get("action_history", [])),
                    valid_actions=list(raw.get("valid_actions", [])),
                    visits=int(raw.get("visits", 1)),
                    actions=[
                        {
                            "action": a["action"],
                            "reason": a.get("reason", ""),
                            "q": float(a["q"]),
                            "visits": int(a.get("visits", 1)),
                            "mean_reward": float(a.get("mean_reward", 0.0)),
                            "updated_at": now,
                        }
                        for a in raw["actions"]
                    ],
                    provenance=Provenance(source=source, created_at=now, updated_at=now, run_ids=[f"pool:{Path(path).name}"]),
                )
                record = record.validated(where=f"pool {path}: record {i}")
            except ValidationError as exc:
                raise InvalidRecordError("refused to import " + describe_validation_error(exc, f"pool {path}: record {i}")) from None
            except InvalidRecordError as exc:
                raise InvalidRecordError(f"refused to import: {exc}".replace("refused to write ", "")) from None
            except (KeyError, TypeError, ValueError, OverflowError) as exc:
                raise InvalidRecordError(f"refused to import pool {path}: record {i} is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None
            records.append(record)
        with self._write_lock():
            present = self.get_many([r.key for r in records])
            fresh = [r for r in records if r.id not in present]
            unique = list({r.id: r for r in fresh}.values())
            if unique:
                self._upsert_locked(unique, new_keys=len(unique))
        return len(unique)

    def export(self, path: str | Path) -> int:
        """Write every record (with statistics and provenance) to a JSON file atomically."""
        return write_export(path, self.namespace, self.embedder.model_id, self.records(), self.skipped)

    def stats(self) -> dict[str, Any]:
        return {**record_stats(self.records()), "skipped_corrupt": len(self.skipped)}


def _read_pool(path: str | Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MemoryStoreError(f"experience pool not found: {path}") from None
    except json.JSONDecodeError as exc:
        raise MemoryStoreError(f"experience pool {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != POOL_FORMAT or not isinstance(data.get("records"), list):
        raise MemoryStoreError(f"experience pool {path} is not in the {POOL_FORMAT!r} format")
    return data


def parse_memory_url(url: str) -> tuple[str, int, bool]:
    """``(host, port, ssl)`` of a Chroma server URL ``http(s)://HOST[:PORT]`` (a bare
    ``HOST:PORT`` means http). ValueError naming what is wrong otherwise."""
    from urllib.parse import urlparse

    text = url.strip()
    if not text or any(ch.isspace() for ch in text):
        raise ValueError(f"memory URL {url!r} is not http://HOST:PORT")
    parsed = urlparse(text if "://" in text else f"http://{text}")
    try:
        port = parsed.port
    except ValueError:
        raise ValueError(f"memory URL {url!r} has a bad port") from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.path not in ("", "/") \
            or parsed.query or parsed.fragment:
        raise ValueError(f"memory URL {url!r} is not http://HOST:PORT")
    ssl = parsed.scheme == "https"
    return parsed.hostname, port or (443 if ssl else 8000), ssl


def _http_client(url: str, settings: Any) -> Any:
    """A Chroma HttpClient for ``http://host:port`` (a ``chroma run`` server)."""
    import chromadb

    try:
        host, port, ssl = parse_memory_url(url)
    except ValueError as exc:
        raise MemoryStoreError(str(exc)) from None
    try:
        client = chromadb.HttpClient(host=host, port=port, ssl=ssl, settings=settings)
        client.heartbeat()
    except Exception as exc:
        raise MemoryStoreError(f"cannot reach the memory server at {url}: {type(exc).__name__}: {exc}") from None
    return client
