"""Many episodes at once on one event loop: ``abatch`` bounded, with room for the sync nodes.

``graph.abatch`` runs an async node (``call_model``'s twin: the model is awaited, so a remote
endpoint holds no thread while it thinks) on the loop itself, and every synchronous node
(reset, retrieve, advise, parse, step_env, backup: milliseconds each) on the loop's default
executor, which Python sizes to ``min(32, cpus + 4)`` threads: 6 on two cores. That was the
ceiling of concurrent episodes when the model call was synchronous too. :func:`abatch_episodes`
bounds the episodes in flight to ``concurrency`` (``max_concurrency``) and makes sure the
executor has a thread for each of them, so a model that is called synchronously (the embedded
llama.cpp model, served one call at a time by its worker) cannot starve the short nodes of
the other episodes either.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def ensure_executor(threads: int) -> None:
    """Give the running loop's default executor at least ``threads`` threads (grow only)."""
    loop = asyncio.get_running_loop()
    current = getattr(loop, "_default_executor", None)
    if current is not None and getattr(current, "_max_workers", 0) >= threads:
        return
    loop.set_default_executor(ThreadPoolExecutor(max_workers=threads, thread_name_prefix="rememberer-node"))
    if current is not None:
        current.shutdown(wait=False)  # its running calls finish; new ones go to the larger pool


async def abatch_episodes(app: Any, inputs: Sequence[dict[str, Any]], *, context: Any, concurrency: int,
                          config: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
    """``app.abatch(inputs)`` with at most ``concurrency`` episodes in flight: the final states in
    input order (``return_exceptions=True``, passed on to ``abatch``, returns a failed episode's
    exception in its place instead of raising it)."""
    if concurrency < 1:
        raise ValueError(f"concurrency must be ≥ 1, got {concurrency}")
    ensure_executor(concurrency + 2)
    base = {**(config or {}), "max_concurrency": concurrency}
    return await app.abatch(list(inputs), base, context=context, **kwargs)


def batch_episodes(app: Any, inputs: Sequence[dict[str, Any]], *, context: Any, concurrency: int,
                   config: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
    """:func:`abatch_episodes` from synchronous code (its own event loop)."""
    return asyncio.run(abatch_episodes(app, inputs, context=context, concurrency=concurrency, config=config, **kwargs))


__all__ = ["abatch_episodes", "batch_episodes", "ensure_executor"]
