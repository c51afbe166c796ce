"""Goal-relative memory keys for WebShop: pages and clicks by what they mean for the instruction.

Verbatim keys hold whole pages (titles, prices, ASINs) and clicks on product ids and option
values, so a record meets another instruction only where both happened to show the same page.
Here a page is keyed by its **kind** and by how well what it shows fits the instruction, and a
click by its **role**:

* task key: one text for every instruction (``buy the product the instruction describes``,
  noting whether it sets a price limit), so all of shopping is one task;
* observation key: ``search page``; ``results page 1: best result shares most of the
  instruction's words, 2 of 3 within the price``; ``item page: title shares some of the
  instruction's words, price within the limit, options the instruction names: 1 of 2 chosen``;
  ``detail page``;
* action key: ``search[the instruction's words]``; ``click[the result that fits best]`` (then
  ``second best``, ``third best``: results ranked by price within the limit, then by the share of
  the instruction's words in the title); ``click[an option the instruction names]`` /
  ``click[an option the instruction does not name]``; buttons (``buy now``, ``next >``,
  ``description``…) as they are.

Memory then learns which *kind* of step pays off on which *kind* of page. Advice is mapped back
to the clicks valid now (``click[the result that fits best]`` → the ASIN ranked first on this
page); ``search[the instruction's words]`` maps to ``search[...]``, whose words the actor fills
in. The word overlap is plain lower-cased word matching after removing a few function words:
the task knowledge these keys use, which action pruning (the default) also gives a policy without memory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from ..base import MemoryKeys
from .pages import split_observation

_WORD = re.compile(r"[a-z0-9]+")
_PRICE_LIMIT = re.compile(r"price lower than ([0-9]+(?:\.[0-9]+)?) dollars")
_PRICE = re.compile(r"\$([0-9][0-9,]*(?:\.[0-9]+)?)")
_ASIN = re.compile(r"^\[\[?([A-Za-z0-9]{10})\]?\]$")
_PAGE = re.compile(r"^Page (\d+) \(Total results: \d+\)$")
FUNCTION_WORDS = frozenset(
    "a an and the for with of to in on at by from i me my need want find looking am is are be that this it its "
    "price lower than dollars under less more product products please size color".split()
)
SEARCH = "search[the instruction's words]"
RANKS = ("the result that fits best", "the second-best result", "the third-best result")
NAMED_OPTION = "click[an option the instruction names]"
OTHER_OPTION = "click[an option the instruction does not name]"
BUTTONS = frozenset({"back to search", "next >", "< prev", "description", "features", "reviews", "buy now", "search"})


def _words(text: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(text.lower()) if w not in FUNCTION_WORDS)


@lru_cache(maxsize=4096)
def _goal(task: str) -> tuple[frozenset[str], float | None, str]:
    """The instruction's content words, its price limit and its lower-cased text."""
    text = task.split("Instruction:", 1)[-1].strip().lower()
    limit = _PRICE_LIMIT.search(text)
    words_part = text.split(", and price lower than")[0]
    return _words(words_part), (float(limit.group(1)) if limit else None), words_part


def _share(words: frozenset[str], goal: frozenset[str]) -> float:
    return len(words & goal) / len(goal) if goal else 0.0


def _bucket(share: float) -> str:
    if share >= 0.6:
        return "most"
    if share >= 0.3:
        return "some"
    return "few" if share > 0 else "none"


def _price_ok(price_text: str, limit: float | None) -> bool | None:
    prices = [float(p.replace(",", "")) for p in _PRICE.findall(price_text)]
    if limit is None or not prices:
        return None
    return min(prices) < limit


def _kind(page: str) -> str:
    lines = page.split("\n")
    if lines and lines[0] == "WebShop" and "[Search]" in lines:
        return "search"
    if any(_PAGE.match(line) for line in lines):
        return "results"
    if "[Buy Now]" in lines:
        return "item"
    if lines and lines[0].startswith("Thank you for shopping"):
        return "done"
    return "detail"


def _results(page: str) -> list[tuple[str, str, str]]:
    """(asin lower-cased, title, price line) of the products a results page shows."""
    lines = page.split("\n")
    out = []
    for i, line in enumerate(lines):
        match = _ASIN.match(line)
        if match:
            title = lines[i + 1] if i + 1 < len(lines) else ""
            price = lines[i + 2] if i + 2 < len(lines) else ""
            out.append((match.group(1).lower(), title, price))
    return out


@lru_cache(maxsize=4096)
def _ranked(task: str, page: str) -> tuple[str, ...]:
    """The shown products' ASINs, best fit first: price within the limit, then word share, then position."""
    goal, limit, _ = _goal(task)
    scored = []
    for position, (asin, title, price) in enumerate(_results(page)):
        ok = _price_ok(price, limit)
        scored.append((0 if ok is not False else 1, -_share(_words(title), goal), position, asin))
    return tuple(asin for *_, asin in sorted(scored))


def _named(value: str, goal_text: str, goal: frozenset[str]) -> bool:
    """Whether the instruction names an option value: as a phrase (``large`` is not named by
    ``3x-large``), or, for a value of several words, all its content words."""
    value = " ".join(value.lower().split())
    if not value:
        return False
    if re.search(rf"(?<![a-z0-9-]){re.escape(value)}(?![a-z0-9-])", goal_text):
        return True
    words = _words(value)  # a value of several words may be named in another order
    return len(words) > 1 and words <= goal


def _options(page: str) -> list[tuple[str, bool]]:
    """(value, chosen) of every option value an item page offers."""
    out = []
    for line in page.split("\n"):
        for match in re.finditer(r"\[\[([^\[\]]+)\]\]|\[([^\[\]]+)\]", line):
            if match.group(1) is not None:
                out.append((match.group(1), True))
            else:
                out.append((match.group(2), False))
    return out


class WebShopKeys(MemoryKeys):
    name = "roles"
    description = "pages by kind and fit to the instruction; clicks by role (best-fitting result, named option…)"

    def state_key(self, task: str, observation: str, context: str) -> tuple[str, str]:
        goal, limit, goal_text = _goal(task)
        new_task = "Instruction: buy the product the instruction describes" + (
            ", under a price limit." if limit is not None else ".")
        page, clickables = split_observation(observation)
        kind = _kind(page)
        if kind == "search":
            return new_task, "search page"
        if kind == "results":
            number = next((int(m.group(1)) for line in page.split("\n") if (m := _PAGE.match(line))), 1)
            shown = _results(page)
            best = max((_share(_words(title), goal) for _, title, _ in shown), default=0.0)
            within = sum(1 for *_, price in shown if _price_ok(price, limit) is not False)
            return new_task, (f"results page {number if number < 3 else '3+'}: best result shares {_bucket(best)} of the "
                              f"instruction's words, {within} of {len(shown)} within the price")
        if kind == "item":
            lines = page.split("\n")
            buy = lines.index("[Buy Now]")
            title = lines[buy - 6] if buy >= 6 else ""
            price = lines[buy - 5] if buy >= 5 else ""
            ok = _price_ok(price, limit)
            values = set(clickables) - BUTTONS
            start = lines.index("[< Prev]") + 1 if "[< Prev]" in lines else 0
            options = [(v, chosen) for v, chosen in _options("\n".join(lines[start:max(start, buy - 6)])) if v.lower() in values]
            named = [chosen for v, chosen in options if _named(v, goal_text, goal)]
            price_text = "no price limit" if ok is None else ("price within the limit" if ok else "price over the limit")
            return new_task, (f"item page: title shares {_bucket(_share(_words(title), goal))} of the instruction's words, "
                              f"{price_text}, options the instruction names: {sum(named)} of {len(named)} chosen"
                              + (", other options offered" if len(options) > len(named) else ""))
        return new_task, f"{kind} page"

    def action_key(self, action: str, task: str, observation: str, context: str) -> str:
        text = " ".join(action.split())
        if text.lower().startswith("search["):
            return SEARCH
        if not (text.lower().startswith("click[") and text.endswith("]")):
            return text
        target = text[6:-1].strip().lower()
        if target in BUTTONS:
            return f"click[{target}]"
        page, _ = split_observation(observation)
        kind = _kind(page)
        if kind == "results":
            ranked = _ranked(task, page)
            if target in ranked:
                return f"click[{RANKS[min(ranked.index(target), len(RANKS) - 1)]}]"
            return "click[a product not on this page]"
        if kind == "item":
            goal, _, goal_text = _goal(task)
            return NAMED_OPTION if _named(target, goal_text, goal) else OTHER_OPTION
        return text

    def observation_similarity(self, a: str, b: str) -> float:
        """1 for the same key, 0.5 for the same kind of page, 0 otherwise."""
        if a == b:
            return 1.0
        return 0.5 if a.split(":", 1)[0].split(" page")[0] == b.split(":", 1)[0].split(" page")[0] else 0.0

    def relevant(self, action: str, task: str, observation: str, context: str) -> bool:
        """Drop what cannot raise the reward: options the instruction does not name, the detail tabs,
        going back."""
        return self.action_key(action, task, observation, context) not in (
            OTHER_OPTION, "click[description]", "click[features]", "click[reviews]", "click[< prev]",
            "click[back to search]")

    def concretize(self, key: str, task: str, observation: str, context: str,
                   valid_actions: Sequence[str] | None) -> list[str]:
        return [a for a in valid_actions or () if self.action_key(a, task, observation, context) == key]


KEYS = WebShopKeys()
