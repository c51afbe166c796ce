"""Parse the model's ``Encouraged:`` answer into candidates with predicted Q.

Like the original: keep the text before "Discouraged", drop an ``Encouraged:`` header, read
lines ``<action> -> <Q> [reason]``, and pick the highest Q (ties: the first line). Unlike the
original, a line whose action is not valid in the current state (when the task lists valid
actions) is ignored rather than executed, and a failure raises :class:`ParseError` with a
reason that the correction prompt can quote.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rememberer.graph.state import Candidate

_LINE = re.compile(r"^\s*(?:[-*]\s+|\d+[.)]\s+)?(?P<action>.+?)\s*->\s*(?P<q>[-+]?\d+(?:\.\d*)?|[-+]?\.\d+)\s*(?P<reason>.*)$")


class ParseError(ValueError):
    pass


def matches_valid(action: str, valid_actions: Sequence[str] | None) -> str | None:
    """The canonical form of ``action`` if it is valid, else None.

    Entries ending in ``[...]`` stand for a family (``search[...]`` = any bracketed text).
    Matching ignores case and surrounding whitespace, then returns the listed spelling.
    """
    if valid_actions is None:
        return action
    wanted = action.strip()
    lowered = wanted.lower()
    for valid in valid_actions:
        if valid.endswith("[...]"):
            prefix = valid[:-4].lower()
            if lowered.startswith(prefix) and lowered.endswith("]") and len(wanted) > len(prefix) + 1:
                return wanted
        elif valid.strip().lower() == lowered:
            return valid
    return None


def parse_candidates(text: str, valid_actions: Sequence[str] | None = None) -> list[Candidate]:
    """All usable lines, best first. Raises :class:`ParseError` when there is none."""
    body = re.split(r"disc", text, maxsplit=1, flags=re.IGNORECASE)[0]
    body = re.sub(r"^\s*encouraged\s*:", "", body, flags=re.IGNORECASE)
    found: list[Candidate] = []
    invalid: list[str] = []
    for line in body.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        action = match.group("action").strip().strip("`").strip()
        canonical = matches_valid(action, valid_actions)
        if canonical is None:
            invalid.append(action)
            continue
        found.append(Candidate(action=canonical, q=float(match.group("q")), reason=match.group("reason").strip()))
    if not found:
        if invalid:
            raise ParseError(f"not a valid action here: {invalid[0][:80]!r}")
        raise ParseError("no line of the form '<action> -> <value> <reason>'")
    order = sorted(range(len(found)), key=lambda i: (-found[i].q, i))
    return [found[i] for i in order]
