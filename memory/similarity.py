"""Similarity functions for retrieval: ``λ·task similarity + (1−λ)·observation similarity``.

Task similarity is the cosine of task embeddings (computed by the store from Chroma's ANN
distances). Observation similarity is pluggable per task set; the generic ones live here,
task-specific ones (WebShop's page-type matcher) live with their task set.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

ObservationSimilarity = Callable[[str, str], float]


def exact_match(a: str, b: str) -> float:
    return 1.0 if a == b else 0.0


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def token_jaccard(a: str, b: str) -> float:
    """Jaccard overlap of lower-cased word sets; two empty texts are identical."""
    ta, tb = _tokens(a), _tokens(b)
    if not ta and not tb:
        return 1.0
    return len(ta & tb) / len(ta | tb)


def line_jaccard(a: str, b: str) -> float:
    """Jaccard overlap of the sets of non-empty lines."""
    la = {line.strip() for line in a.splitlines() if line.strip()}
    lb = {line.strip() for line in b.splitlines() if line.strip()}
    if not la and not lb:
        return 1.0
    return len(la & lb) / len(la | lb)


def lcs_ratio(a: Sequence[str], b: Sequence[str]) -> float:
    """Longest-common-subsequence length / max length (the original's WikiHow screen matcher)."""
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b, start=1):
            current.append(previous[j - 1] + 1 if x == y else max(previous[j], current[j - 1]))
        previous = current
    return previous[-1] / max(len(a), len(b))


def combine(task_similarity: float, observation_similarity: float, task_weight: float) -> float:
    return task_weight * task_similarity + (1.0 - task_weight) * observation_similarity


def cosine_from_distance(distance: float) -> float:
    """Chroma's cosine space returns ``1 − cos``."""
    return 1.0 - float(distance)
