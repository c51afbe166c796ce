"""REMEMBERER's WikiHow matcher, ``lcs+inspat`` with weights 0.5 / 0.5.

REMEMBERER keys WikiHow experience by ``(screen_html, task_command, step_instruction)`` and compares
keys with two matchers:

* **lcs** (``LCSNodeMatcher``): each screen becomes its sequence of tag names (per line, the text
  between ``<`` and the first space); similarity = length of the longest common subsequence /
  the longer sequence's length.
* **inspat** (``InsPatMatcher``): the step instruction is classified into one of six types --
  0 search (empty instruction), 1 article ("Access the article ..."), 2 author ("Check the author
  page ..."), 3 category ("Access the page of category ..."), 4 reference ("Check the reference
  list ..."), 5 about ("Access the about page ...") -- and two types are compared with a fixed
  score matrix; an unknown type scores 0.

This project's memory key is ``(task, observation)``, so the WikiHow adapter puts the step
instruction into the observation (:func:`observation_key`) and :func:`observation_similarity`
computes ``0.5 * lcs + 0.5 * inspat`` on it; the task set's ``task_weight`` is 0, so the task
command's embedding does not enter, exactly as in the paper's configuration.

The original code tested the *whole* instruction for the reference pattern instead of the text
after "Check the ", so type 4 never fired; ``reference_bug=True`` reproduces that.
"""

from __future__ import annotations

SCORE_MATRIX = (
    (1.0, 0.1, 0.0, 0.0, 0.0, 0.0),
    (0.1, 1.0, 0.3, 0.3, 0.0, 0.0),
    (0.0, 0.3, 1.0, 0.8, 0.3, 0.3),
    (0.0, 0.3, 0.8, 1.0, 0.3, 0.3),
    (0.0, 0.0, 0.3, 0.3, 1.0, 0.8),
    (0.0, 0.0, 0.3, 0.3, 0.8, 1.0),
)
"""Rows/columns: search, article, author, category, reference, about."""
INSTRUCTION_TYPES = ("search", "article", "author", "category", "reference", "about")
LCS_WEIGHT = 0.5
INSPAT_WEIGHT = 0.5

_INSTRUCTION_PREFIX = "Instruction: "
_SCREEN_HEADER = "Screen:"


def tag_sequence(screen: str) -> list[str]:
    """Tag name of every line: the text between ``<`` and the first space (or ``>``)."""
    tags = []
    for line in screen.splitlines():
        line = line.strip()
        if not line.startswith("<"):
            continue
        body = line[1:]
        end = min((i for i in (body.find(" "), body.find(">")) if i >= 0), default=len(body))
        tags.append(body[:end])
    return tags


def lcs_length(a: list[str], b: list[str]) -> int:
    if not a or not b:
        return 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, 1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1]


def lcs_similarity(screen_a: str, screen_b: str) -> float:
    a, b = tag_sequence(screen_a), tag_sequence(screen_b)
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    return lcs_length(a, b) / longest


def instruction_type(instruction: str, *, reference_bug: bool = False) -> int | None:
    """Index into :data:`INSTRUCTION_TYPES`, or None for an instruction of no known type."""
    text = instruction.strip()
    if text == "":
        return 0
    if text.startswith("Access the article"):
        return 1
    if text.startswith("Access the page of category"):
        return 3
    if text.startswith("Access the about page"):
        return 5
    if text.startswith("Check the "):
        rest = text[len("Check the "):]
        if rest.startswith("author page"):
            return 2
        if (text if reference_bug else rest).startswith("reference list"):
            return 4
    return None


def inspat_similarity(instruction_a: str, instruction_b: str, *, reference_bug: bool = False) -> float:
    ta = instruction_type(instruction_a, reference_bug=reference_bug)
    tb = instruction_type(instruction_b, reference_bug=reference_bug)
    if ta is None or tb is None:
        return 0.0
    return SCORE_MATRIX[ta][tb]


def observation_key(instruction: str, screen: str) -> str:
    """The observation half of a WikiHow memory key: step instruction, then the screen."""
    return f"{_INSTRUCTION_PREFIX}{' '.join(instruction.split())}\n{_SCREEN_HEADER}\n{screen}"


def split_key(key: str) -> tuple[str, str]:
    """Inverse of :func:`observation_key`: ``(instruction, screen)``."""
    head, _, screen = key.partition(f"\n{_SCREEN_HEADER}\n")
    instruction = head[len(_INSTRUCTION_PREFIX):] if head.startswith(_INSTRUCTION_PREFIX) else head
    return instruction, screen


def observation_similarity(a: str, b: str) -> float:
    """``0.5 * lcs(screens) + 0.5 * inspat(instructions)`` (REMEMBERER's ``lcs+inspat``)."""
    ins_a, screen_a = split_key(a)
    ins_b, screen_b = split_key(b)
    return LCS_WEIGHT * lcs_similarity(screen_a, screen_b) + INSPAT_WEIGHT * inspat_similarity(ins_a, ins_b)
