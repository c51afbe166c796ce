"""The store manifest: ``rememberer-manifest.json`` beside Chroma's files.

Chroma opens a missing, emptied or truncated ``chroma.sqlite3`` as a new, empty database. The
manifest remembers what the directory held, so that opening it again can tell "new memory"
from "memory that lost its records":

* written atomically (temporary file, fsync, rename) after every committed write, under the
  store's write lock, with per collection: namespace, record count, a write generation,
  the embedding model and the time;
* checked on every open: if the manifest says a collection had records and
  ``chroma.sqlite3`` is missing or empty, or the collection is gone or empty, the open fails
  with :class:`CorruptMemoryError` (nothing is created or rewritten).

A 0-byte ``chroma.sqlite3`` is corrupt even without a manifest (Chroma never writes one).
A process killed between Chroma's commit and the manifest write leaves a count that is off
by that one write; that is reported by :func:`check` as a mismatch and healed on the next
write, never treated as corruption. What the manifest cannot see: a directory emptied
*including* the manifest looks like a new one (the run directory's ``config.json`` records
the count at start, and ``--resume`` refuses a memory that shrank to nothing).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

MANIFEST_NAME = "rememberer-manifest.json"
MANIFEST_FORMAT = "rememberer-manifest/1"
SQLITE_NAME = "chroma.sqlite3"


class MemoryStoreError(RuntimeError):
    """The memory directory cannot be opened or used (corrupt, incompatible, unwritable)."""

    namespaces: tuple[str, ...] = ()
    """For a namespace that is not there: the namespaces that are (so a caller can say which to open)."""


class CorruptMemoryError(MemoryStoreError):
    """The memory directory lost records the manifest says it had, or cannot be read."""


def manifest_path(directory: Path) -> Path:
    return directory / MANIFEST_NAME


def read_manifest(directory: Path) -> dict[str, Any] | None:
    path = manifest_path(directory)
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorruptMemoryError(f"memory manifest {path} is unreadable ({exc}); restore it or the directory") from None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("collections"), dict):
        raise CorruptMemoryError(f"memory manifest {path} is not a {MANIFEST_FORMAT!r} file")
    return data


def expected_records(directory: Path, collection: str) -> int:
    data = read_manifest(directory)
    if not data:
        return 0
    return int((data["collections"].get(collection) or {}).get("records", 0))


def check_files(directory: Path) -> None:
    """Before Chroma touches the directory: refuse an emptied or truncated database."""
    sqlite = directory / SQLITE_NAME
    if sqlite.exists() and sqlite.stat().st_size == 0:
        raise CorruptMemoryError(
            f"memory at {directory} is corrupt: {SQLITE_NAME} is empty (0 bytes). Restore the directory "
            "from a backup or an export; nothing was changed"
        )
    data = read_manifest(directory)
    if data and not sqlite.exists():
        held = {name: entry.get("records", 0) for name, entry in data["collections"].items() if entry.get("records", 0)}
        if held:
            raise CorruptMemoryError(
                f"memory at {directory} is corrupt: the manifest lists {sum(held.values())} records "
                f"but {SQLITE_NAME} is missing. Restore the directory; nothing was changed"
            )


def check_collection(directory: Path, collection: str, present: bool, count: int) -> None:
    """After opening: a collection the manifest says had records must exist and be non-empty."""
    expected = expected_records(directory, collection)
    if expected > 0 and (not present or count == 0):
        state = "is missing" if not present else "is empty"
        raise CorruptMemoryError(
            f"memory at {directory} is corrupt: collection {collection!r} {state} but the manifest lists "
            f"{expected} records. Restore the directory from a backup or an export; nothing was changed"
        )


def write_manifest(directory: Path, collection: str, entry: dict[str, Any]) -> None:
    """Record ``entry`` (records, namespace, …) for ``collection``; atomic, durable."""
    data = read_manifest(directory) or {"format": MANIFEST_FORMAT, "collections": {}}
    previous = data["collections"].get(collection, {})
    data["collections"][collection] = {
        **previous,
        **entry,
        "generation": int(previous.get("generation", 0)) + 1,
        "updated_at": time.time(),
    }
    path = manifest_path(directory)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=1, sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
