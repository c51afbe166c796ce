"""Android view hierarchy -> REMEMBERER's simplified HTML screen, and the agent's action syntax.

**Screen.** Every leaf of the view hierarchy with a non-empty box becomes one HTML element on one
line (the leaves are the elements Mobile-Env's ``VhIoWrapper`` numbers, so ``id`` is the
``element_id`` its actions take):

* tag from the Android class: ``TextView`` -> ``p``; ``Button`` and ``MenuItemView`` -> ``button``;
  ``ImageView``, ``IconView`` and ``Image`` -> ``img``; ``EditText`` -> ``input type="text"``;
  anything else -> ``div``;
* attributes: ``id`` (the running index), ``class`` (the resource id after ``:id/``, underscores
  as spaces), ``alt`` (``content-desc``), ``clickable`` (``"true"`` when the node or its parent is
  clickable, as ``VhIoWrapper`` marks it); ``input`` elements carry the text as ``value``;
* the text is the element's content (``img`` and ``input`` are empty elements).

Example: ``<p id="3" class="search result title" clickable="true">How to Become a Grandmaster</p>``.

**Actions** (REMEMBERER's WikiHow syntax): ``CLICK(id)``, ``INPUT(id, text)``, ``SCROLL(UP|DOWN|
LEFT|RIGHT)``, ``GOBACK``. :func:`parse_action` turns them into a ``VhIoWrapper`` action dict;
element ids are clipped into the screen's range as in the paper's code, and anything else is
``NOTHING``.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_BOUNDS = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")
_ACTION = re.compile(r"^(\w+)\((\w+)(?:,\s*(.+))?\)$", re.S)

ACTION_TYPES = {"NOTHING": 0, "CLICK": 1, "INPUT": 2, "SCROLL": 3, "GOBACK": 4}
"""``VhIoWrapper.ActionType`` values."""
DIRECTIONS = {"LEFT": 0, "UP": 1, "RIGHT": 2, "DOWN": 3}
"""``VhIoWrapper.ScrollDirection`` values."""


def _tag(android_class: str) -> str:
    name = android_class.rsplit(".", 1)[-1]
    if name == "TextView":
        return "p"
    if name in ("Button", "MenuItemView") or name.endswith("Button"):
        return "button"
    if name in ("ImageView", "IconView", "Image"):
        return "img"
    if name == "EditText":
        return "input"
    return "div"


def _leaves(node: Any) -> Iterator[tuple[Any, bool]]:
    """Leaves in document order with their clickability (own or the parent's, as VhIoWrapper sets
    it); works on lxml and ``xml.etree.ElementTree`` elements alike."""
    for child in list(node):
        if len(list(child)) == 0:
            yield child, child.get("clickable") == "true" or node.get("clickable") == "true"
        else:
            yield from _leaves(child)


def _box_ok(bounds: str | None) -> bool:
    if not bounds or bounds == "[0,0][0,0]":
        return False
    match = _BOUNDS.match(bounds)
    if not match:
        return False
    x0, y0, x1, y1 = (int(v) for v in match.groups())
    return x0 < x1 and y0 < y1


@dataclass(frozen=True)
class Element:
    index: int
    tag: str
    html: str
    clickable: bool


def screen_elements(tree: Any) -> list[Element]:
    """The screen's elements (``VhIoWrapper``'s numbering) with their HTML line."""
    root = tree.getroot() if hasattr(tree, "getroot") else tree
    elements: list[Element] = []
    for node, clickable in _leaves(root):
        if not _box_ok(node.get("bounds")):
            continue
        index = len(elements)
        tag = _tag(node.get("class", ""))
        attrs = [f'id="{index}"']
        resource = node.get("resource-id") or ""
        if resource:
            attrs.append(f'class="{html.escape(resource.split(":id/")[-1].replace("_", " "))}"')
        if tag == "input":
            attrs.insert(0, 'type="text"')
        desc = node.get("content-desc") or ""
        if desc:
            attrs.append(f'alt="{html.escape(desc)}"')
        text = node.get("text") or ""
        if tag == "input":
            attrs.append(f'value="{html.escape(text)}"')
        attrs.append(f'clickable="{"true" if clickable else "false"}"')
        opening = f"<{tag} " + " ".join(attrs)
        if tag in ("img", "input"):
            line = opening + ">"
        else:
            line = f"{opening}>{html.escape(text)}</{tag}>"
        elements.append(Element(index, tag, line, clickable))
    return elements


def screen_html(tree: Any) -> str:
    """One HTML element per line, as REMEMBERER shows WikiHow screens."""
    return "\n".join(e.html for e in screen_elements(tree))


def parse_action(text: str, n_elements: int) -> tuple[str, dict[str, Any]]:
    """``"CLICK(3)"`` -> (canonical action text, ``VhIoWrapper`` action fields as plain values).

    The caller wraps the values in numpy arrays (the adapter does; tests compare plain values).
    Element ids are clipped to ``[0, n_elements - 1]``; an unparsable action is ``NOTHING``.
    """
    text = " ".join(str(text).strip().split())
    if text.upper() == "GOBACK":
        return "GOBACK", {"action_type": ACTION_TYPES["GOBACK"]}
    match = _ACTION.match(text)
    if match:
        name, arg, extra = match.group(1).upper(), match.group(2), match.group(3)
        if name in ("CLICK", "INPUT") and n_elements > 0 and re.fullmatch(r"-?\d+", arg):
            eid = min(max(int(arg), 0), n_elements - 1)
            if name == "CLICK" and extra is None:
                return f"CLICK({eid})", {"action_type": ACTION_TYPES["CLICK"], "element_id": eid}
            if name == "INPUT" and extra:
                value = extra.strip().strip('"')
                return f"INPUT({eid}, {value})", {"action_type": ACTION_TYPES["INPUT"], "element_id": eid, "text": value}
        if name == "SCROLL" and arg.upper() in DIRECTIONS and extra is None:
            return f"SCROLL({arg.upper()})", {"action_type": ACTION_TYPES["SCROLL"], "direction": DIRECTIONS[arg.upper()]}
    return "NOTHING", {"action_type": ACTION_TYPES["NOTHING"]}


def available_actions(elements: list[Element]) -> tuple[str, ...]:
    """Action forms valid on this screen (``INPUT(i, ...)``: any text inside)."""
    actions = [f"CLICK({e.index})" for e in elements if e.clickable]
    actions += [f"INPUT({e.index}, ...)" for e in elements if e.tag == "input"]
    actions += [f"SCROLL({d})" for d in ("UP", "DOWN", "LEFT", "RIGHT")]
    actions.append("GOBACK")
    return tuple(actions)
