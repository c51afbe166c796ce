"""Task sets behind one protocol (see :mod:`.base`), found by name.

Each task set lives in its own subpackage with a ``load_task_set(**options)`` factory and
is imported only when asked for, so optional dependencies stay optional.
"""

from __future__ import annotations

import importlib
from functools import lru_cache

from .base import Observation, TaskEnvironment, TaskError, TaskSet

TASK_SETS = {
    "textcraft": "rememberer.tasks.textcraft",
    "webshop": "rememberer.tasks.webshop",
    "chain": "rememberer.tasks.chain",
    "scienceworld": "rememberer.tasks.scienceworld",
    "wikihow": "rememberer.tasks.wikihow",
}


def load_task_set(name: str, **options: object) -> TaskSet:
    """Load a task set by name; unknown names are a :class:`TaskError` listing the known ones."""
    return _load(name, tuple(sorted((k, v) for k, v in options.items() if v is not None)))


@lru_cache(maxsize=16)
def _load(name: str, options: tuple[tuple[str, object], ...]) -> TaskSet:
    module_name = TASK_SETS.get(name)
    if module_name is None:
        raise TaskError(f"unknown task set {name!r}; known: {', '.join(sorted(TASK_SETS))}")
    module = importlib.import_module(module_name)
    factory = getattr(module, "load_task_set", None)
    if factory is None:
        raise TaskError(f"task set {name!r} is not available in this version")
    return factory(**dict(options))


__all__ = ["TASK_SETS", "Observation", "TaskEnvironment", "TaskError", "TaskSet", "load_task_set"]
