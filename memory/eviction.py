"""The eviction index: unpinned records ordered by their last update, beside the records.

Why: Chroma answers every ``where`` filter of a ``get`` by grouping the metadata of the *whole*
collection (its SQLite reader puts the filter in a ``HAVING`` over every record), so finding
the least recently updated records with a metadata query costs time in proportion to the store
(41 s once per slack batch at 100k records with ``where={"pinned": False}`` and offset paging),
whatever the filter or limit. Lookups *by id* are index lookups and cost the same at any size.
This index is made only of records found by id, in a side collection
(``evict-<collection>``, one-dimensional dummy embeddings), three levels deep:

* bucket ``b:<n>``: the entries ``{record id: updated_at}`` with ``updated_at`` in
  ``[60 n, 60 (n + 1))`` seconds (:data:`BUCKET_SECONDS`);
* page ``p:<m>``: the sorted numbers of the non-empty buckets of day ``m``
  (:data:`PAGE_BUCKETS` buckets);
* ``root``: the sorted numbers of the non-empty pages, the layout (bucket width and page size:
  an index of another layout counts as not built), and whether the index is complete.

The oldest entries are read root → pages → buckets in ascending order, whole buckets at a time,
until enough *valid* entries are in hand: an entry is valid when its record exists, is not
pinned and still has that ``updated_at`` (fetched by id). Everything in a later bucket is newer,
so the ``want`` oldest valid entries are exactly the ``want`` least recently updated unpinned
records, ordered as before (``updated_at``, then fewer visits, then the larger id first). An
eviction therefore costs a few id lookups per evicted record, plus the stale entries it passes.

Crash safety without transactions across collections: a write adds the new entries *before* it
writes the records and removes the old ones *after* (together with the next write's new entries,
so a write costs one index write); deletes leave their entries behind. Either
way a crash leaves only stale entries, never an unindexed record, and stale entries are dropped
whenever an eviction meets them. A store written before this index existed (or by an older
version of rememberer after it) is indexed by one full scan at its first eviction, and again if
an eviction finds fewer valid entries than it must evict. Every change happens under the store's
write lock.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

BUCKET_SECONDS = 60.0
PAGE_BUCKETS = 1440
LAYOUT = [BUCKET_SECONDS, PAGE_BUCKETS]
ROOT = "root"
WRITE_BATCH = 5000


def bucket_of(updated_at: float) -> int:
    return math.floor(updated_at / BUCKET_SECONDS)


def page_of(bucket: int) -> int:
    return bucket // PAGE_BUCKETS


def index_name(collection_name: str) -> str:
    """The side collection of a memory collection (never a name :func:`store.collection_name` gives)."""
    return f"evict-{collection_name}"


def eviction_order(updated_at: float, visits: int, rid: str) -> tuple:
    """Sort key of the eviction rule: least recently updated first, then fewer visits, then the
    larger id (the order of the scan this index replaces)."""
    return (updated_at, visits, _Desc(rid))


def _complete(root: Any) -> bool:
    return bool(root) and bool(root.get("built")) and root.get("layout") == LAYOUT


class _Desc(str):
    """A string that sorts in reverse."""

    def __lt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__gt__(self, other)

    def __gt__(self, other: str) -> bool:  # type: ignore[override]
        return str.__lt__(self, other)


class EvictionIndex:
    """The index in its side collection (see the module docstring)."""

    def __init__(self, collection: Any):
        self.collection = collection

    # -------------------------------------------------------------- storage
    def _load(self, ids: list[str]) -> dict[str, Any]:
        if not ids:
            return {}
        got = self.collection.get(ids=ids, include=["metadatas"])
        return {rid: json.loads(meta["v"]) for rid, meta in zip(got["ids"], got["metadatas"]) if meta and "v" in meta}

    def _save(self, docs: dict[str, Any], gone: list[str]) -> None:
        items = list(docs.items())
        for start in range(0, len(items), WRITE_BATCH):
            chunk = items[start:start + WRITE_BATCH]
            self.collection.upsert(ids=[k for k, _ in chunk], embeddings=[[0.0]] * len(chunk),
                                   metadatas=[{"v": json.dumps(v)} for _, v in chunk])
        for start in range(0, len(gone), WRITE_BATCH):
            self.collection.delete(ids=gone[start:start + WRITE_BATCH])

    def documents(self):
        """Every document of the index, ``(id, value)`` (a full read, for checks)."""
        offset = 0
        while True:
            got = self.collection.get(include=["metadatas"], limit=WRITE_BATCH, offset=offset)
            if not got["ids"]:
                return
            for rid, meta in zip(got["ids"], got["metadatas"]):
                yield rid, json.loads(meta["v"])
            offset += len(got["ids"])

    def built(self) -> bool:
        return _complete(self._load([ROOT]).get(ROOT))

    # -------------------------------------------------------------- changes
    def change(self, add: dict[str, float] | None = None,
               remove: dict[str, float] | list[tuple[str, float]] | None = None) -> bool:
        """Add entries ``{id: updated_at}`` and remove entries (only where the stored value is
        the one given: a newer entry of the same record in the same bucket stays). Returns
        False, changing nothing, when the index is not built (a store that never evicted)."""
        add = add or {}
        remove = list(remove.items()) if isinstance(remove, dict) else list(remove or ())
        if not add and not remove:
            return self.built()
        buckets = {bucket_of(t) for t in add.values()} | {bucket_of(t) for _, t in remove}
        pages = {page_of(b) for b in buckets}
        docs = self._load([f"b:{b}" for b in buckets] + [f"p:{p}" for p in pages] + [ROOT])
        root = docs.get(ROOT)
        if not _complete(root):
            return False
        entries = {b: dict(docs.get(f"b:{b}", {})) for b in buckets}
        was_empty = {b: not entries[b] for b in buckets}
        for rid, t in remove:
            bucket = entries[bucket_of(t)]
            if bucket.get(rid) == t:
                del bucket[rid]
        for rid, t in add.items():
            entries[bucket_of(t)][rid] = t
        out: dict[str, Any] = {}
        gone: list[str] = []
        page_sets = {p: set(docs.get(f"p:{p}", [])) for p in pages}
        for b, bucket in entries.items():
            if bucket:
                out[f"b:{b}"] = bucket
                page_sets[page_of(b)].add(b)
            else:
                page_sets[page_of(b)].discard(b)
                if not was_empty[b]:
                    gone.append(f"b:{b}")
        root_pages = set(root.get("pages", []))
        for p, members in page_sets.items():
            if members != set(docs.get(f"p:{p}", [])):
                if members:
                    out[f"p:{p}"] = sorted(members)
                elif f"p:{p}" in docs:
                    gone.append(f"p:{p}")
            (root_pages.add if members else root_pages.discard)(p)
        if root_pages != set(root.get("pages", [])):
            out[ROOT] = {**root, "pages": sorted(root_pages)}
        self._save(out, gone)
        return True

    def rebuild(self, entries: dict[str, float]) -> None:
        """Replace the whole index by one of ``entries``: the old documents are deleted (the root
        first, so an interrupted rebuild leaves an index marked incomplete), the new root goes last."""
        self.collection.delete(ids=[ROOT])
        while True:
            ids = self.collection.get(include=[], limit=WRITE_BATCH)["ids"]
            if not ids:
                break
            self.collection.delete(ids=ids)
        buckets: dict[int, dict[str, float]] = {}
        for rid, t in entries.items():
            buckets.setdefault(bucket_of(t), {})[rid] = t
        pages: dict[int, list[int]] = {}
        for b in sorted(buckets):
            pages.setdefault(page_of(b), []).append(b)
        docs: dict[str, Any] = {f"b:{b}": e for b, e in buckets.items()}
        docs.update({f"p:{p}": members for p, members in pages.items()})
        self._save(docs, [])
        self._save({ROOT: {"built": True, "layout": LAYOUT, "pages": sorted(pages)}}, [])

    # -------------------------------------------------------------- reading
    def oldest(self, want: int, validate: Callable[[list[tuple[str, float]]], tuple[list[tuple], list[tuple[str, float]]]],
               chunk: int = 64) -> tuple[list[tuple], list[tuple[str, float]]]:
        """At least ``want`` valid entries, oldest first, if the index has them: whole buckets are
        read in ascending order (``chunk`` bucket documents per lookup) and their entries checked
        with ``validate`` (entries → (valid sort keys, stale entries)) as soon as they could make
        up what is missing, until enough are valid. Returns (valid sort keys, stale entries)."""
        valid: list[tuple] = []
        stale: list[tuple[str, float]] = []
        seen: set[str] = set()  # a record can have two entries (its old one not yet removed)
        pending: list[tuple[str, float]] = []

        def check() -> None:
            ok, bad = validate(pending)
            for key in ok:
                if key[2] not in seen:
                    seen.add(str(key[2]))
                    valid.append(key)
            stale.extend(bad)
            pending.clear()

        root = self._load([ROOT]).get(ROOT) or {}
        for page in root.get("pages", []):
            members = self._load([f"p:{page}"]).get(f"p:{page}", [])
            for start in range(0, len(members), chunk):
                ids = [f"b:{b}" for b in members[start:start + chunk]]
                docs = self._load(ids)
                for key in ids:  # whole buckets only: everything in a later one is newer
                    pending.extend(docs.get(key, {}).items())
                    if len(pending) >= want - len(valid):
                        check()
                        if len(valid) >= want:
                            valid.sort()
                            return valid, stale
        if pending:
            check()
        valid.sort()
        return valid, stale
