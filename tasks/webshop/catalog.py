"""The 1000-product WebShop catalog, read from the shared data directory.

The data is never copied into the repository: it is read from
``../shared/data/webshop`` next to the project (the default), from the ``data_dir`` a caller
passes, or from ``$REMEMBERER_WEBSHOP_DATA``. Loading is cached per resolved directory, so
every environment of a process shares one catalog and one search index.

Each line of ``documents_1k.jsonl`` holds ``{id, contents, product}``: ``contents`` is the
exact text upstream indexed and ``product`` is upstream's processed product dict (what
``load_products`` returns: ``Title``, ``Description``, ``BulletPoints``, ``Price``,
``pricing``, ``options``, ``Attributes``, ``category``, ``query``, ``product_category``, ...).
``items_ins_v2_1000.json`` adds the synthetic instruction and its attributes.
"""

from __future__ import annotations

import json
import os
import random
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from ..base import TaskError
from .search import BM25Index

ENV_VAR = "REMEMBERER_WEBSHOP_DATA"
DOCUMENTS_FILE = "documents_1k.jsonl"
ATTRIBUTES_FILE = "items_ins_v2_1000.json"

Product = dict[str, Any]


def default_data_dir() -> Path:
    """``../shared/data/webshop`` relative to the repository root."""
    return Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "webshop"


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """Pick the data directory (argument, then environment variable, then the default).

    Raises :class:`TaskError` with a one-line hint when the files are not there.
    """
    if data_dir is not None:
        path, how = Path(data_dir), "the data_dir argument"
    elif os.environ.get(ENV_VAR):
        path, how = Path(os.environ[ENV_VAR]), f"${ENV_VAR}"
    else:
        path, how = default_data_dir(), "the default location"
    path = path.expanduser().resolve()
    if not (path / DOCUMENTS_FILE).is_file() or not (path / ATTRIBUTES_FILE).is_file():
        raise TaskError(
            f"WebShop data not found in {path} (from {how}; needs {DOCUMENTS_FILE} and "
            f"{ATTRIBUTES_FILE}): pass --webshop-data DIR or set {ENV_VAR}=DIR"
        )
    return path


def generate_prices(products: list[Product], rng: random.Random) -> dict[str, float]:
    """The price each product is sold at, as upstream's ``generate_product_prices``.

    A price range ``[a, b]`` becomes ``uniform(a, b)``: upstream draws it unseeded at load
    time, we draw it from ``rng`` so a given seed always gives the same prices.
    """
    prices: dict[str, float] = {}
    for product in products:
        pricing = product.get("pricing") or []
        if not pricing:
            price = 100.0
        elif len(pricing) == 1:
            price = float(pricing[0])
        else:
            price = rng.uniform(*pricing[:2])
        prices[product["asin"]] = price
    return prices


@dataclass(eq=False)
class Catalog:
    """Products in upstream order, their search index and the synthetic-goal annotations."""

    data_dir: Path
    products: list[Product]
    contents: list[str]
    annotations: dict[str, dict[str, Any]]
    """``items_ins_v2_1000.json``: ASIN -> ``{attributes, instruction?, instruction_attributes?}``."""
    by_asin: dict[str, Product] = field(init=False)
    _prices: dict[int, dict[str, float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.by_asin = {p["asin"]: p for p in self.products}

    @cached_property
    def index(self) -> BM25Index:
        """The BM25 index over ``contents`` (built on first use, ~0.5 s)."""
        return BM25Index([p["asin"] for p in self.products], self.contents)

    def prices(self, seed: int) -> dict[str, float]:
        """Sale prices for ``seed`` (the first draws of ``random.Random(seed)``)."""
        if seed not in self._prices:
            self._prices[seed] = generate_prices(self.products, random.Random(seed))
        return self._prices[seed]

    def product(self, asin: str) -> Product:
        try:
            return self.by_asin[asin.upper()]
        except KeyError:
            raise TaskError(f"unknown product {asin!r}") from None


def _read_catalog(path: Path) -> Catalog:
    products: list[Product] = []
    contents: list[str] = []
    seen: set[str] = set()
    try:
        with open(path / DOCUMENTS_FILE, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                record = json.loads(line)
                product = record["product"]
                asin = product["asin"]
                # upstream's load_products skips these
                if asin == "nan" or len(asin) > 10 or asin in seen:
                    continue
                seen.add(asin)
                products.append(product)
                contents.append(record["contents"])
        annotations = json.loads((path / ATTRIBUTES_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise TaskError(f"WebShop data in {path} is unreadable: {exc}") from None
    return Catalog(path, products, contents, annotations)


_CACHE: dict[Path, Catalog] = {}
_LOCK = threading.Lock()


def load_catalog(data_dir: str | os.PathLike[str] | None = None) -> Catalog:
    """Load (once per process and directory) the catalog found by :func:`resolve_data_dir`."""
    path = resolve_data_dir(data_dir)
    with _LOCK:
        catalog = _CACHE.get(path)
        if catalog is None:
            catalog = _CACHE[path] = _read_catalog(path)
    return catalog
