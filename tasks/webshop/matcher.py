"""REMEMBERER's page-pattern observation similarity (``pgpat``) for WebShop.

The page type is read from the available actions only (the ``Available actions:`` block of
an observation string):

* 0 ``search``  -- exactly ``["search"]``;
* 1 ``results`` -- a results page: ``back to search``, optional ``< prev``, ``next >``, then
  product ASINs;
* 2 ``goods``   -- an item page (at least 3 actions, one of them ``buy now``);
* 3 ``other``   -- a description/features/reviews sub-page: exactly
  ``["back to search", "< prev"]``;
* -1 unknown   -- anything else (scores 0 against everything).

Similarity is 1 for the same type, 0.3 between goods and other, 0 otherwise.

One deliberate fix: REMEMBERER's version required the actions from index 2 on to start with
``b0`` + digit, so results pages after the first (``< prev`` comes before ``next >``), pages
whose ASINs start otherwise, and empty pages past the last result were all "unknown". Here
any results page is type 1 (``strict_remember=True`` restores the original rule).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from .pages import parse_actions

SEARCH, RESULTS, GOODS, OTHER, UNKNOWN = 0, 1, 2, 3, -1
PAGE_TYPE_NAMES = {SEARCH: "search", RESULTS: "results", GOODS: "goods", OTHER: "other", UNKNOWN: "unknown"}
_SCORES = (
    (1.0, 0.0, 0.0, 0.0),
    (0.0, 1.0, 0.0, 0.0),
    (0.0, 0.0, 1.0, 0.3),
    (0.0, 0.0, 0.3, 1.0),
)
_ASIN = re.compile(r"^[a-z0-9]{10}$")
_REMEMBERER_ASIN = re.compile(r"^b0\d")


def page_type(actions: Sequence[str], *, strict_remember: bool = False) -> int:
    """Classify a page from its clickables (see the module docstring)."""
    actions = list(actions)
    if actions == ["search"]:
        return SEARCH
    if actions == ["back to search", "< prev"]:
        return OTHER
    if strict_remember:
        if len(actions) >= 3 and all(_REMEMBERER_ASIN.match(a) for a in actions[2:]):
            return RESULTS
    elif actions[:1] == ["back to search"] and "next >" in actions and "buy now" not in actions:
        rest = actions[actions.index("next >") + 1 :]
        head = actions[1 : actions.index("next >")]
        if head in ([], ["< prev"]) and all(_ASIN.match(a) for a in rest):
            return RESULTS
    if len(actions) >= 3 and "buy now" in actions:
        return GOODS
    return UNKNOWN


@lru_cache(maxsize=65536)
def observation_page_type(observation: str) -> int:
    """Page type of an observation string produced by the WebShop environment."""
    return page_type(parse_actions(observation))


def page_similarity(observation_a: str, observation_b: str) -> float:
    """``pgpat``: similarity in [0, 1] of two WebShop observation strings."""
    a = observation_page_type(observation_a)
    b = observation_page_type(observation_b)
    if a == UNKNOWN or b == UNKNOWN:
        return 0.0
    return _SCORES[a][b]
