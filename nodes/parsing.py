"""Parse the model's ``Encouraged:`` answer into candidates with predicted Q.

Like the original: keep the text before the ``Discouraged`` section, drop an ``Encouraged:``
header, read lines ``<action> -> <Q> [reason]``, and pick the highest Q (ties: the first line).
Unlike the original, a line whose action is not valid in the current state (when the task
lists valid actions) is ignored rather than executed, and a failure raises
:class:`ParseError` with a reason that the correction prompt can quote.

The parser is total and linear-time: it uses no backtracking regular expression on the
answer (the old ``_LINE`` pattern backtracked in cubic time on leading whitespace), it scans
each line once, and it reads at most :data:`MAX_ANSWER_CHARS` characters. The answer is cut
only at a *line* that starts with ``Discouraged`` (the original cut at ``disc`` anywhere, so
``search[disc golf bag] -> 0.8`` could not be parsed). Values must be finite; reasons are cut
to :data:`MAX_REASON_CHARS` and lone surrogates are replaced by U+FFFD, so nothing the model
writes can break the backup that stores it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rememberer.graph.state import Candidate
from rememberer.memory.records import clean_text

MAX_ANSWER_CHARS = 65_536
"""Characters of a model answer that are parsed at all (the rest is ignored)."""
MAX_REASON_CHARS = 500
"""A candidate's reason is cut to this many characters (memory stores it and prompts show it)."""
MAX_ACTION_CHARS = 1_000
"""A longer action text is not an action (memory would refuse it anyway)."""

_DIGITS = frozenset("0123456789")
_BULLETS = ("- ", "* ", "-\t", "*\t")


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


def _marker_rest(line: str, marker: str) -> str | None:
    """The text after ``marker`` when the (stripped, de-emphasised) line starts with it, else None."""
    head = line.lstrip().lstrip("#*_ \t").lower()
    if not head.startswith(marker):
        return None
    return line.lstrip().lstrip("#*_ \t")[len(marker):]


def _strip_bullet(text: str) -> str:
    """Drop a leading ``- ``, ``* `` or ``1.``/``1)`` list marker (followed by whitespace)."""
    if text.startswith(_BULLETS):
        return text[2:]
    i = 0
    while i < len(text) and text[i] in _DIGITS:
        i += 1
    if 0 < i < len(text) - 1 and text[i] in ".)" and text[i + 1].isspace():
        return text[i + 2:]
    return text


def _number_at(line: str, pos: int) -> tuple[float, int] | None:
    """Read ``[-+]?(digits[.digits]|.digits)`` at ``pos``: (value, end) or None."""
    start = pos
    n = len(line)
    if pos < n and line[pos] in "+-":
        pos += 1
    int_start = pos
    while pos < n and line[pos] in _DIGITS:
        pos += 1
    has_int = pos > int_start
    if pos < n and line[pos] == ".":
        frac_start = pos + 1
        pos = frac_start
        while pos < n and line[pos] in _DIGITS:
            pos += 1
        if not has_int and pos == frac_start:
            return None
    elif not has_int:
        return None
    try:
        value = float(line[start:pos])
    except ValueError:
        return None
    return value, pos


def parse_line(line: str) -> tuple[str, float, str] | None:
    """``(action, q, reason)`` from ``<action> -> <q> [reason]``, or None. Linear in ``len(line)``.

    The action is the text before the first ``->`` that is followed by a number (as the
    original's lazy pattern chose).
    """
    body = _strip_bullet(line.strip())
    search_from = 0
    while True:
        arrow = body.find("->", search_from)
        if arrow < 0:
            return None
        search_from = arrow + 2
        pos = arrow + 2
        while pos < len(body) and body[pos].isspace():
            pos += 1
        number = _number_at(body, pos)
        if number is None:
            continue
        value, end = number
        action = body[:arrow].strip()
        if not action:
            continue
        if not math.isfinite(value):
            return None
        return action, value, body[end:].strip()


def parse_candidates(text: str, valid_actions: Sequence[str] | None = None) -> list[Candidate]:
    """All usable lines, best first. Raises :class:`ParseError` when there is none."""
    found: list[Candidate] = []
    invalid: list[str] = []
    for line in clean_text(text[:MAX_ANSWER_CHARS]).splitlines():
        if _marker_rest(line, "discouraged") is not None:
            break
        rest = _marker_rest(line, "encouraged")
        if rest is not None:
            rest = rest.lstrip()
            if not rest.startswith(":"):
                continue
            line = rest[1:]
        parsed = parse_line(line)
        if parsed is None:
            continue
        action, q, reason = parsed
        action = action.strip("`").strip()
        if not action or len(action) > MAX_ACTION_CHARS:
            continue
        canonical = matches_valid(action, valid_actions)
        if canonical is None:
            invalid.append(action)
            continue
        if len(reason) > MAX_REASON_CHARS:
            reason = reason[: MAX_REASON_CHARS - 1] + "…"
        found.append(Candidate(action=canonical, q=q, reason=reason))
    if not found:
        if invalid:
            raise ParseError(f"not a valid action here: {invalid[0][:80]!r}")
        raise ParseError("no line of the form '<action> -> <value> <reason>'")
    order = sorted(range(len(found)), key=lambda i: (-found[i].q, i))
    return [found[i] for i in order]
