"""Turn an :class:`AgentContext` into live objects: task set, memory, model, environments.

Injected instances win. Otherwise objects are built from the plain knobs on first use and
cached per process (a Studio or notebook session reuses the model and the Chroma client
across runs); nothing is built at import time.
"""

from __future__ import annotations

import threading
from functools import partial
from pathlib import Path
from typing import Any

from rememberer.graph.context import AgentContext
from rememberer.memory import ExperienceMemory
from rememberer.tasks import TaskSet, load_task_set
from rememberer.tasks.base import VERBATIM, MemoryKeys, pool_record_keys
from rememberer.tasks.sessions import EnvironmentSessions

from .models import load_model

_cache: dict[tuple, Any] = {}
_lock = threading.Lock()


def _cached(key: tuple, build):
    with _lock:
        if key not in _cache:
            _cache[key] = build()
        return _cache[key]


def task_set(ctx: AgentContext) -> TaskSet:
    if ctx.task_set_instance is not None:
        return ctx.task_set_instance
    return load_task_set(ctx.task_set, **ctx.task_options)


def sessions(ctx: AgentContext) -> EnvironmentSessions:
    if ctx.sessions_instance is not None:
        return ctx.sessions_instance
    tasks = task_set(ctx)
    return _cached(("sessions", tasks.name, id(tasks)), lambda: EnvironmentSessions(tasks.make_env))


def keys(ctx: AgentContext) -> MemoryKeys:
    """The memory key scheme of this run (verbatim where the task set has no goal-relative one)."""
    return task_set(ctx).memory_keys(ctx.memory_keys)


def shown_actions(ctx: AgentContext, task: str, observation: str, context: str,
                  valid_actions: tuple[str, ...] | list[str] | None) -> list[str] | None:
    """The valid actions offered to the model (``prune_actions``: what the task's keys offer, see
    :meth:`MemoryKeys.offer`: those relevant to the goal, a bounded subset for ScienceWorld)."""
    if valid_actions is None:
        return None
    if not ctx.prune_actions:
        return list(valid_actions)
    scheme = task_set(ctx).goal_keys
    if scheme is None:
        return list(valid_actions)
    return scheme.offer(valid_actions, task, observation, context)


def check_scheme(ctx: AgentContext, store: Any) -> None:
    """Refuse an injected memory that is plainly the task set's memory under the other key scheme
    (its records could never match this run's keys: no advice, no error, otherwise)."""
    if ctx.namespace is not None:
        return
    tasks = task_set(ctx)
    other = "verbatim" if ctx.memory_keys == "goal-relative" else "goal-relative"
    mine, theirs = tasks.memory_namespace(ctx.memory_keys), tasks.memory_namespace(other)
    if mine != theirs and getattr(store, "namespace", None) == theirs:
        raise ValueError(
            f"the memory passed in is {tasks.name}'s {other!r} memory (namespace {theirs!r}), but memory_keys is "
            f"{ctx.memory_keys!r}: set memory_keys={other!r}, or open it with open_memory(tasks, dir, keys={ctx.memory_keys!r})"
        )


def memory_namespace(ctx: AgentContext) -> str:
    return ctx.namespace or task_set(ctx).memory_namespace(ctx.memory_keys)


def open_memory(tasks: TaskSet, directory, *, keys: str = "goal-relative", namespace: str | None = None,
                with_pool: bool = True, **options: Any) -> ExperienceMemory:
    """The experience memory of ``tasks`` under a key scheme, as the graph opens it: the scheme's
    namespace and observation similarity, and the task set's initial pool keyed the same way.
    ``options`` go to :class:`ExperienceMemory` (e.g. ``embedder``, ``max_records``)."""
    store = ExperienceMemory(
        directory,
        namespace=namespace or tasks.memory_namespace(keys),
        observation_similarity=tasks.similarity(keys),
        task_weight=tasks.task_weight,
        **options,
    )
    if with_pool and tasks.initial_pool is not None:
        scheme = tasks.memory_keys(keys)
        store.import_pool(tasks.initial_pool, transform=None if scheme is VERBATIM else partial(pool_record_keys, scheme))
    return store


def memory(ctx: AgentContext) -> ExperienceMemory:
    if ctx.memory_instance is not None:
        check_scheme(ctx, ctx.memory_instance)
        return ctx.memory_instance
    tasks = task_set(ctx)
    namespace = memory_namespace(ctx)
    where = ("url", ctx.memory_url) if ctx.memory_url else ("dir", ctx.memory_dir)
    return _cached(("memory", *where, namespace, tasks.name, ctx.max_records),
                   lambda: open_memory(tasks, ctx.memory_dir, keys=ctx.memory_keys, namespace=namespace,
                                       url=ctx.memory_url, max_records=ctx.max_records))


def forget_memory(directory) -> None:
    """Drop what this process keeps open of the memory at ``directory`` (the memories opened there
    and Chroma's client for that path), so the directory can be removed and a new memory made in
    its place (an experiment grid restarting a run)."""
    path = Path(directory).expanduser().resolve()
    with _lock:
        for key in [k for k in _cache if k[:2] == ("memory", "dir") and Path(k[2]).expanduser().resolve() == path]:
            del _cache[key]
    try:
        from chromadb.api.client import SharedSystemClient
    except ImportError:  # pragma: no cover - chromadb is a dependency
        return
    system = SharedSystemClient._identifier_to_system.pop(str(path), None)
    if system is not None:
        system.stop()


def model(ctx: AgentContext) -> Any:
    if ctx.model_instance is not None:
        return ctx.model_instance
    if ctx.model.startswith("fake:"):  # scripted offline models for Studio, the CLI and demos
        from rememberer.fakes import from_spec

        return from_spec(ctx.model)
    if ctx.model.startswith("scripted:"):  # the controlled policy of the transfer experiments
        from rememberer.fakes import controlled_policy

        return _cached(("model", ctx.model, ctx.run_id), lambda: controlled_policy(ctx.model))
    key = ("model", ctx.model, ctx.base_url, ctx.temperature, ctx.max_tokens, ctx.seed)
    return _cached(
        key,
        lambda: load_model(
            ctx.model,
            base_url=ctx.base_url,
            api_key=ctx.api_key,
            temperature=ctx.temperature,
            max_tokens=ctx.max_tokens,
            seed=ctx.seed,
        ),
    )


def step_cap(ctx: AgentContext) -> int:
    return ctx.max_steps or task_set(ctx).max_steps
