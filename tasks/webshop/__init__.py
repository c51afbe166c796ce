"""WebShop (1000-product catalog, offline) as a REMEMBERER task set.

``load_task_set()`` returns a :class:`tasks.base.TaskSet` named ``"webshop"``: the 6910
synthetic goals upstream generates on this catalog plus its 13 human goals, REMEMBERER-style
splits, a Lucene-faithful BM25 search, upstream's reward, and the ``pgpat`` page-type
matcher. See ``README.md`` in this folder for the data location, formats and deviations.
"""

from __future__ import annotations

import os
import threading
from functools import partial
from pathlib import Path

from ..base import TaskError, TaskSet, check_disjoint
from .catalog import ENV_VAR, Catalog, load_catalog
from .env import SEARCH_FAMILY, WebShopEnv, task_text
from .goals import SHUFFLE_SEED, Goal, build_goals, make_splits
from .matcher import page_similarity
from .keys import KEYS

__all__ = [
    "load_task_set",
    "make_environment",
    "WebShopEnv",
    "task_text",
    "SEARCH_FAMILY",
    "ENV_VAR",
]

HERE = Path(__file__).resolve().parent
POOLS = ("E0", "E1", "E2")
MAX_STEPS = 15
ACTION_HINT = "search[keywords] or click[element] with an element from the available actions"

_SHARED: dict[tuple[Path, int], tuple[Catalog, dict[str, Goal], dict[str, float]]] = {}
_LOCK = threading.Lock()


def _shared(data_dir: str | os.PathLike[str] | None, seed: int) -> tuple[Catalog, dict[str, Goal], dict[str, float]]:
    """Catalog, goals and prices, built once per (data directory, seed) and process."""
    catalog = load_catalog(data_dir)
    key = (catalog.data_dir, seed)
    with _LOCK:
        if key not in _SHARED:
            _SHARED[key] = (catalog, build_goals(catalog, seed), catalog.prices(seed))
    return _SHARED[key]


def make_environment(
    data_dir: str | os.PathLike[str] | None = None, *, seed: int = SHUFFLE_SEED, search_anywhere: bool = False
) -> WebShopEnv:
    """A fresh environment sharing the process-wide catalog and index."""
    catalog, goals, prices = _shared(data_dir, seed)
    _ = catalog.index  # build the index now rather than inside the first step
    return WebShopEnv(catalog, goals, prices, search_anywhere=search_anywhere)


def load_task_set(
    data_dir: str | Path | None = None,
    *,
    split: str | None = None,
    seed: int = SHUFFLE_SEED,
    pool: str = "E0",
    search_anywhere: bool = False,
) -> TaskSet:
    """Build the WebShop task set.

    Args:
        data_dir: directory with ``documents_1k.jsonl`` and ``items_ins_v2_1000.json``;
            default ``$REMEMBERER_WEBSHOP_DATA`` or ``../shared/data/webshop``.
        split: if given, only this split is kept (plus ``train`` for the overlap check).
        seed: seed of the price draws (price limits in instructions and the sale price of
            products with a price range). 233 by default; recorded in ``metadata``.
        pool: initial exemplar pool, ``"E0"``, ``"E1"`` or ``"E2"``.
        search_anywhere: accept ``search[...]`` on every page, as upstream's raw env does.
    """
    if pool not in POOLS:
        raise TaskError(f"webshop: unknown pool {pool!r} (known: {', '.join(POOLS)})")
    catalog, goals, _ = _shared(data_dir, seed)
    splits = make_splits(goals)
    check_disjoint("webshop", splits, train="train")
    check_disjoint("webshop", splits, train="train_s1")
    if split is not None:
        if split not in splits:
            raise TaskError(f"webshop: unknown split {split!r} (known: {', '.join(sorted(splits))})")
        splits = {name: goals_ for name, goals_ in splits.items() if name in (split, "train")}
    preamble = (HERE / "preamble.txt").read_text(encoding="utf-8")
    return TaskSet(
        name="webshop",
        description=(
            "WebShop, 1000-product catalog offline: buy the product an instruction describes "
            "(search, browse, choose options, buy); reward = upstream's score, success = 1.0."
        ),
        splits=splits,
        make_env=partial(make_environment, catalog.data_dir, seed=seed, search_anywhere=search_anywhere),
        max_steps=MAX_STEPS,
        preamble=preamble,
        observation_similarity=page_similarity,
        task_weight=0.5,
        initial_pool=HERE / f"pool_{pool}.json",
        action_hint=ACTION_HINT,
        success_threshold=1.0,
        goal_keys=KEYS,
        metadata={
            "data_dir": str(catalog.data_dir),
            "seed": str(seed),
            "shuffle_seed": str(SHUFFLE_SEED),
            "goals": str(len(goals)),
            "pool": pool,
            "matcher": "pgpat+insrel (0.5/0.5)",
            "search_anywhere": str(search_anywhere),
        },
    )
