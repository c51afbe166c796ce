"""Read-only access to a memory directory, for ``memory stats | show | export``.

Opening Chroma's ``PersistentClient`` writes to ``chroma.sqlite3`` (migrations, bookkeeping)
even when nothing is changed, and creates an empty database where there was none. Inspecting a
memory must not do either: :class:`MemoryReader` reads the records straight from the SQLite
file opened with ``mode=ro`` (no write, no create, no journal), after the manifest checks.
Records that cannot be decoded are skipped and reported in :attr:`MemoryReader.skipped`
(``memory repair`` quarantines them).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .manifest import SQLITE_NAME, CorruptMemoryError, check_collection, check_files
from .records import CorruptRecordError, ExperienceRecord


class MemoryReader:
    """The records of one namespace of a memory directory, read-only."""

    def __init__(self, path: str | Path, *, namespace: str = "default"):
        from .store import MemoryStoreError, collection_name

        self.path = Path(path).expanduser().resolve()
        self.namespace = namespace
        self.collection = collection_name(namespace)
        self.skipped: dict[str, str] = {}
        sqlite = self.path / SQLITE_NAME
        if not self.path.is_dir():
            raise MemoryStoreError(f"no memory at {self.path}")
        check_files(self.path)
        if not sqlite.exists():
            raise MemoryStoreError(f"no memory at {self.path} (no {SQLITE_NAME})")
        try:
            self._db = sqlite3.connect(f"file:{sqlite}?mode=ro", uri=True)
            row = self._db.execute("SELECT id FROM collections WHERE name = ?", (self.collection,)).fetchone()
        except sqlite3.Error as exc:
            raise CorruptMemoryError(f"cannot read memory at {self.path}: {exc}") from None
        self._collection_id = row[0] if row else None
        check_collection(self.path, self.collection, row is not None, len(self) if row else 0)
        if row is None:
            from .tools import namespaces_of

            names = namespaces_of(n for (n,) in self._db.execute("SELECT name FROM collections"))
            self._db.close()
            error = MemoryStoreError(f"no memory for {namespace!r} at {self.path} (namespaces there: {', '.join(names) or 'none'})")
            error.namespaces = tuple(names)
            raise error
        meta = dict(self._db.execute(
            "SELECT key, COALESCE(str_value, CAST(int_value AS TEXT), CAST(float_value AS TEXT)) "
            "FROM collection_metadata WHERE collection_id = ?", (self._collection_id,)).fetchall())
        self.embedding_model = meta.get("embedding_model")

    def close(self) -> None:
        self._db.close()

    def _rows(self) -> Any:
        return self._db.execute(
            "SELECT e.embedding_id, m.string_value FROM embeddings e "
            "JOIN segments s ON e.segment_id = s.id AND s.scope = 'METADATA' "
            "LEFT JOIN embedding_metadata m ON m.id = e.id AND m.key = 'payload' "
            "WHERE s.collection = ? ORDER BY e.id",
            (self._collection_id,),
        )

    def __len__(self) -> int:
        if self._collection_id is None:
            return 0
        (count,) = self._db.execute(
            "SELECT COUNT(*) FROM embeddings e JOIN segments s ON e.segment_id = s.id AND s.scope = 'METADATA' "
            "WHERE s.collection = ?", (self._collection_id,)).fetchone()
        return int(count)

    def records(self) -> Iterator[ExperienceRecord]:
        """Every decodable record, in storage order; the others land in :attr:`skipped`."""
        for rid, payload in self._rows():
            try:
                if payload is None:
                    raise CorruptRecordError(f"record {rid} has no payload")
                yield ExperienceRecord.from_json(payload, where=rid)
            except CorruptRecordError as exc:
                self.skipped[rid] = str(exc)

    def stats(self) -> dict[str, Any]:
        from .store import record_stats

        return {**record_stats(self.records()), "skipped_corrupt": len(self.skipped)}

    def export(self, path: str | Path) -> int:
        from .store import write_export

        return write_export(path, self.namespace, self.embedding_model, self.records(), self.skipped)
