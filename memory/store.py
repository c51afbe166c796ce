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
(one transaction), under a file lock so that several processes can share a directory. Each
transition carries an id ``episode:step`` that the record remembers, so replaying an
episode's backup after a crash or a retry changes nothing.

Capacity: at most ``max_actions`` actions per record (see :func:`rlem.prune_actions`) and
``max_records`` records per memory. When a write would exceed ``max_records``, the least
recently updated records that are not pinned are evicted first (ties: fewer visits first).
Annotated initial records are pinned and never evicted. (The original silently dropped every
new key once full, which freezes learning.)
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .embeddings import MiniLMEmbedder, TextEmbedder
from .records import SCHEMA_VERSION, CorruptRecordError, ExperienceRecord, Provenance, record_id
from .rlem import Episode, RLEMConfig, UpdatePlan, plan_episode_update
from .similarity import ObservationSimilarity, combine, cosine_from_distance, exact_match

POOL_FORMAT = "rememberer-pool/1"


class MemoryStoreError(RuntimeError):
    """The memory directory cannot be opened or used (corrupt, incompatible, unwritable)."""


class IncompatibleMemoryError(MemoryStoreError):
    """The store was written with another embedding model or a newer schema."""


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


def _collection_name(namespace: str) -> str:
    # Chroma wants 3–512 chars of [a-zA-Z0-9._-], alphanumeric at both ends.
    safe = "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in namespace).strip("-._")
    return f"rememberer-{safe or 'default'}"


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
    ):
        if not 0.0 <= task_weight <= 1.0:
            raise ValueError(f"task_weight must be in [0, 1], got {task_weight}")
        self.path = Path(path).expanduser().resolve() if path is not None else None
        self.namespace = namespace
        self.embedder: TextEmbedder = embedder or MiniLMEmbedder()
        self.observation_similarity = observation_similarity or exact_match
        self.task_weight = task_weight
        self.max_records = max_records
        self.max_actions = max_actions
        self.candidate_pool = candidate_pool
        self._thread_lock = threading.RLock()
        self._embedding_cache: OrderedDict[str, list[float]] = OrderedDict()
        self._client = client if client is not None else self._open_client()
        self._collection = self._open_collection()

    # ------------------------------------------------------------------ opening
    def _open_client(self) -> Any:
        import chromadb
        from chromadb.config import Settings

        settings = Settings(anonymized_telemetry=False, allow_reset=False)
        if self.path is None:
            return chromadb.EphemeralClient(settings=settings)
        if self.path.exists() and not self.path.is_dir():
            raise MemoryStoreError(f"memory path {self.path} exists and is not a directory")
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
        name = _collection_name(self.namespace)
        wanted = {
            "hnsw:space": "cosine",
            "rememberer_schema": SCHEMA_VERSION,
            "embedding_model": self.embedder.model_id,
            "embedding_dim": int(self.embedder.dimension),
            "namespace": self.namespace,
        }
        try:
            collection = self._client.get_or_create_collection(name, metadata=wanted, embedding_function=None)
        except Exception as exc:
            raise MemoryStoreError(f"cannot open collection {name!r} in {self.path}: {exc}") from None
        meta = collection.metadata or {}
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
            if self.path is None:
                yield
                return
            with open(self.path / ".rememberer.lock", "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

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

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return int(self._collection.count())

    def _decode(self, rid: str, metadata: dict[str, Any] | None) -> ExperienceRecord:
        if not metadata or "payload" not in metadata:
            raise CorruptRecordError(f"record {rid} in {self.path}:{self.namespace} has no payload")
        return ExperienceRecord.from_json(str(metadata["payload"]), where=rid)

    def get(self, task: str, observation: str) -> ExperienceRecord | None:
        return self.get_many([(task, observation)]).get(record_id(task, observation))

    def get_many(self, keys: Sequence[tuple[str, str]]) -> dict[str, ExperienceRecord]:
        ids = sorted({record_id(t, o) for t, o in keys})
        if not ids:
            return {}
        found = self._collection.get(ids=ids, include=["metadatas"])
        return {rid: self._decode(rid, meta) for rid, meta in zip(found["ids"], found["metadatas"])}

    def records(self, batch: int = 500) -> Iterator[ExperienceRecord]:
        """Every record, in storage order."""
        offset = 0
        while True:
            page = self._collection.get(include=["metadatas"], limit=batch, offset=offset)
            if not page["ids"]:
                return
            for rid, meta in zip(page["ids"], page["metadatas"]):
                yield self._decode(rid, meta)
            offset += len(page["ids"])

    def retrieve(self, task: str, observation: str, k: int = 8) -> list[ScoredRecord]:
        """The ``k`` records most similar to the key, best first.

        Candidates are the ANN neighbours of the task embedding plus every record of the same
        task (so a task with many stored states cannot crowd the exact state out of the ANN
        window); they are scored with the task set's combined similarity and sorted by
        (score, action visits), as the original ranks exemplars.
        """
        total = len(self)
        if total == 0 or k <= 0:
            return []
        vector = self.embed_task(task)
        hits = self._collection.query(
            query_embeddings=[vector],
            n_results=min(self.candidate_pool, total),
            include=["metadatas", "distances"],
        )
        candidates: dict[str, tuple[float, dict[str, Any]]] = {}
        for rid, meta, dist in zip(hits["ids"][0], hits["metadatas"][0], hits["distances"][0]):
            candidates[rid] = (cosine_from_distance(dist), meta)
        same_task = self._collection.get(where={"task": task}, include=["metadatas"], limit=1000)
        for rid, meta in zip(same_task["ids"], same_task["metadatas"]):
            candidates[rid] = (1.0, meta)
        scored = []
        for rid, (task_sim, meta) in candidates.items():
            record = self._decode(rid, meta)
            obs_sim = float(self.observation_similarity(observation, record.observation))
            task_sim = max(0.0, min(1.0, task_sim))
            score = combine(task_sim, obs_sim, self.task_weight)
            scored.append(ScoredRecord(record, score, task_sim, obs_sim))
        scored.sort(key=lambda s: (-s.score, -s.record.action_visits))
        return scored[:k]

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

    def _evict_for(self, incoming_new: int) -> int:
        overflow = len(self) + incoming_new - self.max_records
        if overflow <= 0:
            return 0
        page = self._collection.get(where={"pinned": False}, include=["metadatas"])
        order = sorted(
            zip(page["ids"], page["metadatas"]),
            key=lambda item: (float(item[1].get("updated_at", 0.0)), int(item[1].get("visits", 0))),
        )
        victims = [rid for rid, _ in order[:overflow]]
        if len(victims) < overflow:
            raise MemoryStoreError(
                f"memory {self.path}:{self.namespace} is full of pinned records "
                f"(max_records={self.max_records}); raise --max-records"
            )
        self._collection.delete(ids=victims)
        return len(victims)

    def upsert(self, records: Sequence[ExperienceRecord]) -> int:
        """Write records as they are, in one call (new keys may trigger eviction)."""
        if not records:
            return 0
        with self._write_lock():
            return self._upsert_locked(records)

    def _upsert_locked(self, records: Sequence[ExperienceRecord], new_keys: int | None = None) -> int:
        ids = [r.id for r in records]
        if len(set(ids)) != len(ids):
            raise ValueError("upsert got two records with the same key")
        if new_keys is None:
            existing = set(self._collection.get(ids=ids, include=[])["ids"])
            new_keys = sum(1 for rid in ids if rid not in existing)
        evicted = self._evict_for(new_keys)
        self._collection.upsert(
            ids=ids,
            embeddings=[self.embed_task(r.task) for r in records],
            documents=[r.task for r in records],
            metadatas=[self._metadata(r) for r in records],
        )
        return evicted

    def apply_episode(self, episode: Episode, config: RLEMConfig) -> UpdateReport:
        """Run the RLEM backup for one episode and write it atomically (idempotent)."""
        if config.max_actions != self.max_actions:
            config = dataclasses.replace(config, max_actions=self.max_actions)
        with self._write_lock():
            plan: UpdatePlan = plan_episode_update(episode, self, config)
            evicted = self._upsert_locked(plan.records, new_keys=plan.created) if plan.records else 0
        return UpdateReport(
            episode_id=episode.episode_id,
            records_written=len(plan.records),
            new_records=plan.created,
            skipped_transitions=plan.skipped,
            evicted=evicted,
            targets=plan.targets,
            bootstraps=dict(plan.bootstraps),
        )

    def delete(self, task: str, observation: str) -> bool:
        rid = record_id(task, observation)
        with self._write_lock():
            present = bool(self._collection.get(ids=[rid], include=[])["ids"])
            if present:
                self._collection.delete(ids=[rid])
        return present

    # ------------------------------------------------------------------ pools, export
    def import_pool(self, path: str | Path, *, source: str = "annotated") -> int:
        """Load an initial experience pool (JSON); keys already present are left alone.

        Returns the number of records added. Re-importing the same pool adds nothing.
        """
        data = _read_pool(path)
        now = time.time()
        records = []
        for i, raw in enumerate(data["records"]):
            try:
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
            except (KeyError, TypeError, ValueError) as exc:
                raise MemoryStoreError(f"pool {path}: record {i} is malformed: {exc}") from None
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
        target = Path(path)
        records = [r.model_dump() for r in self.records()]
        payload = {
            "format": "rememberer-memory/1",
            "namespace": self.namespace,
            "embedding_model": self.embedder.model_id,
            "records": records,
        }
        tmp = target.with_suffix(target.suffix + ".tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(target)
        return len(records)

    def stats(self) -> dict[str, Any]:
        records = list(self.records())
        n_actions = [len(r.actions) for r in records]
        return {
            "records": len(records),
            "pinned": sum(r.pinned for r in records),
            "actions": sum(n_actions),
            "mean_actions_per_record": (sum(n_actions) / len(records)) if records else 0.0,
            "positive_q_records": sum(1 for r in records if r.max_q > 0),
            "visits": sum(r.visits for r in records),
        }


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
