"""The WebShop environment behind the project's task protocol (``tasks.base``).

State machine (upstream ``SimServer.receive``)::

    search page --search[kw]--> results p (10 of <= 50 hits; 3 shown and clickable)
      results: click[next >] / click[< prev] (p > 1) / click[<asin>] -> item page
      item:    click[<option value>] sets that option group; click[< prev] -> results
               (options reset); click[description|features|reviews] -> sub-page
               (click[< prev] -> item page, options kept); click[buy now] -> done (reward)
      any page but done: click[back to search] -> search page (visited items forgotten)

Differences from upstream's raw gym env, each on purpose (see README):

* ``search[...]`` is accepted only where the page has a search box (as ReAct's wrapper and
  REMEMBERER's principle 6 expect), unless ``search_anywhere=True``.
* ``click[search]`` is not a valid action (upstream ignores it too, silently).
* Invalid actions return a short ``feedback`` message instead of nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..base import Observation, TaskError
from .catalog import Catalog, Product
from .goals import Goal
from .pages import (
    SUB_PAGES,
    RenderedPage,
    observation_text,
    render_done,
    render_item,
    render_results,
    render_search,
    render_sub,
)
from .reward import get_reward
from .search import TOP_N, TooManyClauses, normalize_query

PRODUCT_WINDOW = 10
"""Products per results page (upstream ``PRODUCT_WINDOW``)."""
SEARCH_FAMILY = "search[...]"
"""The ``valid_actions`` entry meaning "search with any keywords"."""
_ACTION_RE = re.compile(r"^\s*(search|click)\s*\[(.*)\]\s*$", re.DOTALL | re.IGNORECASE)


def task_text(goal: Goal) -> str:
    """The memory-key task string: ``"Instruction: " + instruction text`` (deterministic)."""
    return f"Instruction: {goal.instruction_text}"


def parse_action(action: str) -> tuple[str, str] | None:
    """``search[...]``/``click[...]`` -> (name, lower-cased argument), else None.

    Upstream matches ``(.+)\\[(.+)\\]`` without anchoring the end; we require the action to be
    exactly one bracketed call (so option values containing ``[`` still work).
    """
    match = _ACTION_RE.match(action)
    if match is None:
        return None
    return match.group(1).lower(), match.group(2).strip().lower()


@dataclass
class _State:
    kind: str = "search"
    keywords: str | None = None
    page: int = 1
    hits: list[Product] = field(default_factory=list)
    asin: str | None = None
    options: dict[str, str] = field(default_factory=dict)
    sub: str | None = None
    visited: set[str] = field(default_factory=set)
    reward: float = 0.0


class WebShopEnv:
    """One WebShop browser session; the catalog and index are shared across instances."""

    def __init__(
        self,
        catalog: Catalog,
        goals: dict[str, Goal],
        prices: dict[str, float],
        *,
        search_anywhere: bool = False,
    ) -> None:
        self.catalog = catalog
        self.goals = goals
        self.prices = prices
        self.search_anywhere = search_anywhere
        self.goal: Goal | None = None
        self.state = _State()
        self.page: RenderedPage | None = None
        self.last_reward_info: dict[str, Any] | None = None
        """Upstream's verbose reward components of the last purchase."""

    # -- protocol -------------------------------------------------------------------------
    def reset(self, goal_id: str) -> Observation:
        goal = self.goals.get(str(goal_id))
        if goal is None:
            raise TaskError(f"webshop: unknown goal id {goal_id!r}")
        self.goal = goal
        self.last_reward_info = None
        self._go_search_page()
        return self._observe()

    def step(self, action: str) -> Observation:
        if self.goal is None or self.page is None:
            raise TaskError("webshop: call reset(goal_id) before step()")
        if self.state.kind == "done":
            return self._observe(feedback="The episode is over; nothing happened.")
        parsed = parse_action(action if isinstance(action, str) else "")
        if parsed is None:
            return self._observe(
                feedback=f"Invalid action {action!r}: use search[keywords] or click[element]."
            )
        name, arg = parsed
        if name == "search":
            if not arg:
                return self._observe(feedback="Invalid action: search[...] needs keywords.")
            if not (self.page.has_search_bar or self.search_anywhere):
                return self._observe(
                    feedback="Invalid action: there is no search box on this page; click[back to search] first."
                )
            try:
                self._search(normalize_query(arg), 1)
            except TooManyClauses as exc:  # Lucene would raise; upstream would crash
                return self._observe(feedback=f"Invalid action: {exc}; use fewer keywords.")
            return self._observe()
        if arg == "search" or arg not in self.page.clickables:
            return self._observe(
                feedback=f"Invalid action: {arg!r} is not clickable here; pick one of the available actions."
            )
        reward = self._click(arg)
        return self._observe(reward=reward)

    # -- transitions ----------------------------------------------------------------------
    def _go_search_page(self) -> None:
        self.state = _State()
        self.page = render_search(self.goal.instruction_text)

    def _search(self, keywords: str, page: int) -> None:
        st = self.state
        if keywords != st.keywords:  # same keywords -> same hits (search is deterministic)
            hits = self.catalog.index.search(keywords, TOP_N)
            st.hits = [self.catalog.by_asin[h.asin] for h in hits if h.asin in self.catalog.by_asin]
        st.kind, st.keywords, st.page = "results", keywords, page
        st.asin, st.options, st.sub = None, {}, None
        self._render_results()

    def _render_results(self) -> None:
        st = self.state
        window = st.hits[(st.page - 1) * PRODUCT_WINDOW : st.page * PRODUCT_WINDOW]
        self.page = render_results(self.goal.instruction_text, st.page, len(st.hits), window, st.visited)

    def _render_item(self) -> None:
        product = self.catalog.by_asin[self.state.asin]
        self.page = render_item(self.goal.instruction_text, product, self.state.options)

    def _click(self, arg: str) -> float:
        st = self.state
        kind = st.kind
        if arg == "buy now":
            return self._buy()
        if arg == "back to search":
            self._go_search_page()
        elif arg == "next >" and kind == "results":
            self._search(st.keywords or "", st.page + 1)
        elif arg == "< prev" and kind == "results":
            self._search(st.keywords or "", st.page - 1)
        elif arg == "< prev" and kind == "sub":
            st.kind, st.sub = "item", None
            self._render_item()
        elif arg == "< prev" and kind == "item":
            self._search(st.keywords or "", st.page)
        elif arg in SUB_PAGES and kind == "item":
            st.kind, st.sub = "sub", arg
            self.page = render_sub(self.goal.instruction_text, self.catalog.by_asin[st.asin], arg)
        elif kind == "results":
            st.asin = arg.upper()
            st.visited.add(st.asin)
            st.kind, st.options = "item", {}
            self._render_item()
        elif kind == "item":
            product = self.catalog.by_asin[st.asin]
            group = None
            # Upstream maps a value to the *last* radio button carrying it.
            for name, values in (product.get("options") or {}).items():
                if arg in values:
                    group = name
            if group is not None:
                st.options[group] = arg
            self._render_item()
        return 0.0

    def _buy(self) -> float:
        st = self.state
        product = self.catalog.by_asin[st.asin]
        reward, info = get_reward(
            product, self.goal.as_dict(), self.prices[product["asin"]], dict(st.options)
        )
        self.last_reward_info = info
        st.kind, st.reward = "done", reward
        self.page = render_done(reward)
        return reward

    # -- observation ----------------------------------------------------------------------
    def valid_actions(self) -> tuple[str, ...]:
        page = self.page
        if page is None or self.state.kind == "done":
            return ()
        actions = [SEARCH_FAMILY] if (page.has_search_bar or self.search_anywhere) else []
        actions += [f"click[{c}]" for c in page.clickables if c != "search"]
        return tuple(actions)

    def _observe(self, *, reward: float = 0.0, feedback: str = "") -> Observation:
        done = self.state.kind == "done"
        return Observation(
            task=task_text(self.goal),
            observation=observation_text(self.page),
            context="",
            feedback=feedback,
            reward=reward,
            done=done,
            success=done and reward >= 1.0,
            valid_actions=self.valid_actions(),
        )
