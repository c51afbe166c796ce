"""WebShop goals on the 1000-product catalog and the project's splits.

Two goal families, both built the way upstream's ``engine/goal.py`` builds them:

* **synthetic** (upstream ``human_goals=False``): for every product that has an
  ``instruction`` in ``items_ins_v2_1000.json``, one goal per combination of its option
  values -- 6910 goals. Ids ``"0"`` ... ``"6909"`` are the indices after upstream's
  ``random.seed(233); random.shuffle(goals)``, i.e. upstream's ``fixed_<i>`` sessions.
* **human** (upstream ``human_goals=True``): the 13 MTurk instructions whose product is in
  this catalog, shuffled the same way; ids ``"h0"`` ... ``"h12"``.

The price limit: upstream samples ``price_upper`` (and the sale price of products with a
price range) with the module-level ``random`` *before* seeding, so it changes from run to
run. Here both come from ``random.Random(seed)`` in upstream's call order (all range prices
first, then one ``sample`` per goal product), so a seed fixes every instruction text. The
default seed is 233, recorded in the task set's metadata.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..base import TaskError
from .catalog import Catalog

SHUFFLE_SEED = 233
"""Upstream's fixed ``random.seed(233)`` before shuffling the goal list."""
PRICE_RANGE = [10.0 * i for i in range(1, 100)]
NO_PRICE_LIMIT = 1_000_000.0

GoalOptions = dict[str, str] | list[str]


@dataclass(frozen=True)
class Goal:
    """One shopping goal: the instruction shown and what the reward compares against."""

    goal_id: str
    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    price_upper: float
    goal_options: GoalOptions
    """A dict (option name -> value) for synthetic goals, a list of values for human ones."""
    kind: str
    """``"synthetic"`` or ``"human"``."""

    @property
    def option_values(self) -> list[str]:
        opts = self.goal_options
        return list(opts.values()) if isinstance(opts, dict) else list(opts)

    def as_dict(self) -> dict[str, Any]:
        """The goal in upstream's dict shape (what ``get_reward`` reads)."""
        return {
            "asin": self.asin,
            "category": self.category,
            "query": self.query,
            "name": self.name,
            "product_category": self.product_category,
            "instruction_text": self.instruction_text,
            "attributes": list(self.attributes),
            "price_upper": self.price_upper,
            "goal_options": self.goal_options,
        }


def _price_limit(price: float, rng: random.Random) -> tuple[float, str]:
    """Upstream's rule: the larger of two of the first four multiples of 10 above the price."""
    price_range = [p for p in PRICE_RANGE if p > price][:4]
    if len(price_range) >= 2:
        _, upper = sorted(rng.sample(price_range, 2))
        return upper, f", and price lower than {upper:.2f} dollars"
    return NO_PRICE_LIMIT, ""


def _price_stream(catalog: Catalog, seed: int) -> tuple[random.Random, dict[str, float]]:
    """The seeded generator positioned after the sale-price draws, as upstream's stream is."""
    rng = random.Random(seed)
    prices = catalog.prices(seed)
    for product in catalog.products:
        if len(product.get("pricing") or []) >= 2:
            rng.uniform(0.0, 1.0)
    return rng, prices


def _synthetic(catalog: Catalog, seed: int) -> list[dict[str, Any]]:
    rng, prices = _price_stream(catalog, seed)
    goals = []
    for product in catalog.products:
        note = catalog.annotations.get(product["asin"], {})
        instruction = note.get("instruction")
        if instruction is None:
            continue
        attributes = note.get("instruction_attributes") or []
        if not attributes:
            raise TaskError(f"product {product['asin']} has an instruction but no attributes")
        upper, price_text = _price_limit(prices[product["asin"]], rng)
        options = product.get("options") or {}
        names = sorted(options)
        for combination in itertools.product(*(options[n] for n in names)):
            goal_options = dict(zip(names, combination))
            option_text = ", and ".join(f"{k}: {v}" for k, v in goal_options.items())
            option_text = " with " + option_text if option_text else ""
            goals.append(
                {
                    "asin": product["asin"],
                    "category": product["category"],
                    "query": product["query"],
                    "name": product["Title"],
                    "product_category": product["product_category"],
                    "instruction_text": f"{instruction}{option_text}{price_text}",
                    "attributes": tuple(attributes),
                    "price_upper": upper,
                    "goal_options": goal_options,
                }
            )
    return goals


def _human(catalog: Catalog, seed: int) -> list[dict[str, Any]]:
    rng, prices = _price_stream(catalog, seed)
    goals = []
    for product in catalog.products:
        for entry in product.get("instructions") or []:
            attributes = entry.get("instruction_attributes") or []
            if not attributes:
                continue
            upper, price_text = _price_limit(prices[product["asin"]], rng)
            goals.append(
                {
                    "asin": product["asin"],
                    "category": product["category"],
                    "query": product["query"],
                    "name": product["name"],
                    "product_category": product["product_category"],
                    "instruction_text": entry["instruction"].strip(".") + price_text,
                    "attributes": tuple(attributes),
                    "price_upper": upper,
                    "goal_options": list(entry.get("instruction_options") or []),
                }
            )
    return goals


@lru_cache(maxsize=8)
def _build(catalog: Catalog, seed: int) -> dict[str, Goal]:
    out: dict[str, Goal] = {}
    for kind, builder, prefix in (("synthetic", _synthetic, ""), ("human", _human, "h")):
        goals = builder(catalog, seed)
        random.Random(SHUFFLE_SEED).shuffle(goals)
        for i, g in enumerate(goals):
            goal_id = f"{prefix}{i}"
            out[goal_id] = Goal(goal_id=goal_id, kind=kind, **g)
    return out


def build_goals(catalog: Catalog, seed: int = SHUFFLE_SEED) -> dict[str, Goal]:
    """All goals by id (synthetic ``"0"``..., then human ``"h0"``...), cached per seed."""
    return _build(catalog, seed)


def synthetic_ids(goals: dict[str, Goal]) -> list[str]:
    return [gid for gid, g in goals.items() if g.kind == "synthetic"]


def make_splits(goals: dict[str, Goal]) -> dict[str, tuple[str, ...]]:
    """The documented splits (see README): REMEMBERER-style plus a larger test set.

    * ``test`` = synthetic goals 0-99 (REMEMBERER tests on the first 100 goals).
    * ``test_large`` = synthetic goals 0-499 (verl-agent / GiGPO's "first 500").
    * ``train`` / ``train_s1`` = 10 goals each, like REMEMBERER's S0 = [500, 510) and
      S1 = [510, 520): walking up from goal 500, we take goals whose *product* appears in no
      test_large goal and is not yet used, so training never shows the test products.
    * ``human`` = the 13 human goals (an extra evaluation set).
    """
    synthetic = synthetic_ids(goals)
    test_large = tuple(synthetic[:500])
    test = tuple(synthetic[:100])
    test_products = {goals[g].asin for g in test_large}
    used: set[str] = set()
    picked: list[str] = []
    for gid in synthetic[500:]:
        asin = goals[gid].asin
        if asin in test_products or asin in used:
            continue
        used.add(asin)
        picked.append(gid)
        if len(picked) == 20:
            break
    if len(picked) < 20:
        raise TaskError("not enough products outside the test set to build the training splits")
    human = tuple(gid for gid, g in goals.items() if g.kind == "human")
    return {
        "train": tuple(picked[:10]),
        "train_s1": tuple(picked[10:20]),
        "test": test,
        "test_large": test_large,
        "human": human,
    }
