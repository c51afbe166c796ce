"""Rendering fidelity against real WebShop pages (``page_fixtures/*.html``).

For each fixture page the test converts the HTML the way REMEMBERER's WebShop fork does
(``text_rich`` visible-text walk, first three products, ``get_available_actions``) and
checks that our renderer, given the same product data, yields the same lines and the same
clickables.
"""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from rememberer.tasks.webshop.pages import (
    clean,
    observation_text,
    parse_actions,
    render_item,
    render_results,
    render_sub,
    split_observation,
)

IGNORED = {"style", "script", "head", "title", "meta"}


class _Page(HTMLParser):
    """Visible text nodes with their parent element, plus the elements the fork clicks on."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.texts: list[tuple[str, str, dict[str, str]]] = []
        self.buttons: list[str] = []
        self.links: list[str] = []
        self.radios: list[tuple[str, str]] = []
        self._in_button = False

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        if tag == "input" and attrs.get("type") == "radio":
            self.radios.append((attrs["name"], attrs["value"]))
        if tag in ("input", "img", "link", "meta", "br"):
            return
        self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data):
        if not self.stack or not data.strip():
            return
        tag, attrs = self.stack[-1]
        if tag in IGNORED:
            return
        self.texts.append((data, tag, attrs))
        classes = attrs.get("class", "").split()
        if "btn" in classes:
            self.buttons.append(data.strip().lower())
        if classes == ["product-link"]:
            self.links.append(data.strip().lower())


def fork_text_rich(html: str) -> tuple[list[str], list[str]]:
    """The fork's ``convert_html_to_text(simple=False)`` and clickables.

    The string is built exactly as the fork builds it (``"\n[x]"`` for buttons and product
    links, ``"[x]"`` for option labels, ``"\n" + text + " "`` otherwise, products after the
    third hidden), then put in canonical form: lines stripped, empty lines dropped.
    """
    page = _Page()
    page.feed(html)
    observation = ""
    prod_cnt = just_prod = 0
    for text, tag, attrs in page.texts:
        if tag == "button":
            out = f"\n[{text}]"
        elif tag == "label":
            out = f"[{text}]"  # nothing is chosen in the fixtures
        elif attrs.get("class", "").split() == ["product-link"]:
            out = f"\n[{text}]" if prod_cnt < 3 else ""
            prod_cnt += 1
            just_prod = 0
        else:
            out = "\n" + text + " "
            if just_prod <= 2 and prod_cnt >= 4:
                out = ""
        just_prod += 1
        observation += out
    lines = [clean(line) for line in observation.split("\n")]
    clickables = list(dict.fromkeys(page.buttons + page.links[:3] + [v for _, v in page.radios]))
    return [line for line in lines if line], clickables


def _fixture(data_dir, name: str) -> str:
    return (data_dir / "page_fixtures" / name).read_text(encoding="utf-8")


def _instruction(lines: list[str]) -> str:
    return lines[lines.index("Instruction:") + 1]


def test_results_page_matches_fixture(data_dir):
    html = _fixture(data_dir, "mock_parse_results_ws.html")
    expected, clickables = fork_text_rich(html)
    page = _Page()
    page.feed(html)
    titles = [clean(t) for t, tag, a in page.texts if "product-title" in a.get("class", "")]
    prices = [clean(t) for t, tag, a in page.texts if "product-price" in a.get("class", "")]
    products = [{"asin": asin.upper(), "Title": title, "Price": price}
                for asin, title, price in zip(page.links, titles, prices)]
    assert len(products) == 10
    rendered = render_results(_instruction(expected), 1, 50, products)
    assert list(rendered.lines) == expected
    assert list(rendered.clickables) == clickables
    assert clickables == ["back to search", "next >", "b09gkfnqwt", "b09bfy2r3r", "b09p87v3lz"]


def test_item_page_matches_fixture(data_dir):
    html = _fixture(data_dir, "mock_parse_item_page_ws.html")
    expected, clickables = fork_text_rich(html)
    page = _Page()
    page.feed(html)
    options: dict[str, list[str]] = {}
    for name, value in page.radios:
        options.setdefault(name, []).append(value)
    title = next(clean(t) for t, tag, _ in page.texts if tag == "h2")
    price = next(clean(t) for t, tag, _ in page.texts if clean(t).startswith("Price: "))[len("Price: "):]
    product = {"asin": "B09P87V3LZ", "Title": title, "Price": price, "Rating": "N.A.", "options": options}
    rendered = render_item(_instruction(expected), product, {})
    assert list(rendered.lines) == expected
    assert list(rendered.clickables) == clickables
    assert "color [black][purple][red]" in rendered.lines
    assert clickables[:6] == ["back to search", "< prev", "description", "features", "reviews", "buy now"]


@pytest.mark.parametrize(("fixture", "sub"), [("mock_parse_item_page_ws_desc.html", "description"),
                                               ("mock_parse_item_page_ws_feat.html", "features")])
def test_sub_pages_match_fixtures(data_dir, fixture, sub):
    html = _fixture(data_dir, fixture)
    expected, clickables = fork_text_rich(html)
    page = _Page()
    page.feed(html)
    body = [t for t, tag, a in page.texts if "product-info" in a.get("class", "")]
    product = {"Description": body[0] if sub == "description" else "", "BulletPoints": body}
    rendered = render_sub(_instruction(expected), product, sub)
    assert list(rendered.lines) == expected
    assert list(rendered.clickables) == clickables == ["back to search", "< prev"]


def test_chosen_options_and_visited_products_are_marked():
    product = {"asin": "B000000001", "Title": "T", "Price": "$1.0", "options": {"color": ["red", "blue"], "size": ["s", "m"]}}
    page = render_item("do it", product, {"color": "blue", "size": "s"})
    assert page.lines[:2] == ("You have clicked s.", "You have clicked blue.")
    assert "color [red][[blue]]" in page.lines and "size [[s]][m]" in page.lines
    results = render_results("do it", 2, 12, [product], visited={"B000000001"})
    assert "[[B000000001]]" in results.lines and "[< Prev]" in results.lines
    assert results.clickables == ("back to search", "< prev", "next >", "b000000001")


def test_observation_block_round_trips():
    product = {"asin": "B000000001", "Title": "T", "Price": "$1.0", "options": {}}
    page = render_item("x", product, {})
    text = observation_text(page)
    assert text.endswith("\n\nAvailable actions:\n- back to search\n- < prev\n- description\n- features\n- reviews\n- buy now")
    body, actions = split_observation(text)
    assert body == page.text and actions == list(page.clickables) == parse_actions(text)
