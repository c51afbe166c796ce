"""The WebShop pages as REMEMBERER's agent saw them: ``text_rich`` text plus clickables.

REMEMBERER ran WebShop through the zdy023 fork in ``text_rich`` mode, which turns the HTML
of each page into lines (buttons as ``[Text]``, option groups on one line as
``size [a][[b]][c]`` with the chosen value doubled and a leading ``You have clicked b.``,
visited products as ``[[ASIN]]``, only the first three products of a results page shown
and clickable). This module builds that text directly from the page state, without HTML.

Canonical-form choices (the text is a memory key, so it must be stable):

* Text nodes are stripped and their inner whitespace collapsed; the fork kept a trailing
  space on most lines and started every page with an empty line. We drop both.
* A chosen option is marked whenever its value is chosen. The fork looked for the quoted
  value in a JSON URL, which misses values containing ``"`` or non-ASCII characters.

The observation string an environment returns is ``page text`` + a blank line + an
``Available actions:`` block with one ``- <clickable>`` line each (upstream's lower-cased
clickables, in page order); see :func:`observation_text` and :func:`parse_actions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SHOWN_PRODUCTS = 3
"""Products of a results page shown and clickable (the ReAct/REMEMBERER simplification)."""
ACTIONS_HEADER = "Available actions:"
SUB_PAGES = ("description", "features", "reviews")


@dataclass(frozen=True)
class RenderedPage:
    kind: str
    """``search``, ``results``, ``item``, ``sub`` or ``done``."""
    lines: tuple[str, ...]
    clickables: tuple[str, ...]
    """Lower-cased clickable texts in page order, each once (upstream's dict keys)."""
    has_search_bar: bool = False

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def clean(text: Any) -> str:
    """One visible text node as a single stripped line."""
    return " ".join(str(text).split())


def _dedupe(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _header(instruction: str) -> list[str]:
    return ["Instruction:", clean(instruction), "[Back to Search]"]


def render_search(instruction: str) -> RenderedPage:
    """The start page: logo, instruction and the search box with its Search button."""
    return RenderedPage(
        "search", ("WebShop", "Instruction:", clean(instruction), "[Search]"), ("search",), True
    )


def render_results(
    instruction: str,
    page: int,
    total: int,
    products: Sequence[Mapping[str, Any]],
    visited: Iterable[str] = (),
) -> RenderedPage:
    """Results page ``page`` (the products of that page are passed in; 3 are shown)."""
    seen = {a.upper() for a in visited}
    lines = _header(instruction)
    lines.append(f"Page {page} (Total results: {total})")
    buttons = ["back to search"]
    if page > 1:
        lines.append("[< Prev]")
        buttons.append("< prev")
    lines.append("[Next >]")
    buttons.append("next >")
    links = []
    for product in products[:SHOWN_PRODUCTS]:
        asin = product["asin"]
        lines.append(f"[[{asin}]]" if asin.upper() in seen else f"[{asin}]")
        lines.append(clean(product["Title"]))
        lines.append(clean(product["Price"]))
        links.append(asin.lower())
    return RenderedPage("results", tuple(lines), _dedupe(buttons + links))


def render_item(
    instruction: str, product: Mapping[str, Any], chosen: Mapping[str, str]
) -> RenderedPage:
    """Item page: options (chosen ones doubled), title, price, rating, sub-page buttons, Buy Now."""
    chosen_values = set(chosen.values())
    clicked_lines: list[str] = []
    option_lines: list[str] = []
    option_values: list[str] = []
    for name, values in (product.get("options") or {}).items():
        parts = []
        for value in values:
            if value in chosen_values:
                parts.append(f"[[{clean(value)}]]")
                # the fork prepends one such line per marked label, so the last comes first
                clicked_lines.insert(0, f"You have clicked {clean(value)}.")
            else:
                parts.append(f"[{clean(value)}]")
            option_values.append(value)
        option_lines.append(f"{clean(name)} {''.join(parts)}")
    lines = clicked_lines + _header(instruction) + ["[< Prev]"] + option_lines
    lines += [
        clean(product["Title"]),
        f"Price: {clean(product['Price'])}",
        f"Rating: {clean(product.get('Rating', 'N.A.'))}",
        "[Description]",
        "[Features]",
        "[Reviews]",
        "[Buy Now]",
    ]
    buttons = ["back to search", "< prev", "description", "features", "reviews", "buy now"]
    return RenderedPage("item", tuple(lines), _dedupe(buttons + option_values))


def render_sub(instruction: str, product: Mapping[str, Any], sub: str) -> RenderedPage:
    """Description, Features (one line per bullet point) or Reviews (always empty here)."""
    lines = _header(instruction) + ["[< Prev]"]
    if sub == "description":
        text = clean(product.get("Description") or "")
        lines.append(text or "No Description")
    elif sub == "features":
        lines.extend(clean(b) for b in product.get("BulletPoints") or [] if clean(b))
    else:
        reviews = product.get("Reviews") or []
        if not reviews:
            lines.append("No reviews found")
        for review in reviews:
            lines.extend(
                clean(x) for x in (f'"{review.get("title", "")}"', review.get("score", ""), review.get("body", ""))
            )
    return RenderedPage("sub", tuple(lines), ("back to search", "< prev"))


def render_done(reward: float) -> RenderedPage:
    """The page after Buy Now; terminal, nothing to click."""
    return RenderedPage(
        "done", ("Thank you for shopping with us!", "Your score (min 0.0, max 1.0)", f"{reward}"), ()
    )


def observation_text(page: RenderedPage) -> str:
    """Page text, a blank line, then ``Available actions:`` and ``- <clickable>`` lines."""
    actions = "".join(f"\n- {c}" for c in page.clickables)
    return f"{page.text}\n\n{ACTIONS_HEADER}{actions}"


def split_observation(observation: str) -> tuple[str, list[str]]:
    """Inverse of :func:`observation_text`: (page text, clickables)."""
    marker = f"\n\n{ACTIONS_HEADER}"
    cut = observation.rfind(marker)
    if cut < 0:
        return observation, []
    block = observation[cut + len(marker):]
    actions = [line[2:] for line in block.split("\n") if line.startswith("- ")]
    return observation[:cut], actions


def parse_actions(observation: str) -> list[str]:
    """The clickables listed in an observation string (``[]`` if it has no block)."""
    return split_observation(observation)[1]
