"""Advice from a retrieved record: one encouraged action and the discouraged ones.

The rules of the original code (spec §5):

* **Encouraged** — exactly one action. If the best Q is positive, that action with its Q.
  Otherwise a random action valid in that state, valued U[0, 0.5) shown as at least 0.1 (with ``random_advice``
  off: the best action anyway). This is where exploration comes from: a model that copies
  advice tries something new where memory knows only failures. Unlike the original, the
  random pick avoids actions memory already knows to be worthless when it can.
* **Discouraged** — if every known action has a positive Q, one random action valued 0.0
  that differs from the encouraged one (``random_advice`` off: the lowest-Q action);
  otherwise all actions whose Q is exactly 0. Negative and partial-credit actions are
  never discouraged.
"""

from __future__ import annotations

import random

from rememberer.graph.state import Candidate
from rememberer.memory.records import ExperienceRecord

from .prompting import advice_reasons


def _as_candidate(entry) -> Candidate:
    return Candidate(action=entry.action, q=round(entry.q, 3), reason=entry.reason)


def build_advice(
    record: ExperienceRecord, rng: random.Random, *, random_advice: bool = True
) -> tuple[list[Candidate], list[Candidate]]:
    ranked = record.sorted_actions()
    reasons = advice_reasons()
    known = [a.action for a in ranked]
    zero_q = [_as_candidate(a) for a in reversed(ranked) if a.q == 0.0]

    encouraged: list[Candidate] = []
    if ranked and ranked[0].q > 0:
        encouraged = [_as_candidate(ranked[0])]
    elif random_advice:
        pool = record.valid_actions or known
        untried = [a for a in pool if a not in {c.action for c in zero_q}]
        options = untried or pool
        if options:
            choice = rng.choice(options)
            encouraged = [Candidate(action=choice, q=max(0.1, round(rng.uniform(0.0, 0.5), 1)), reason=reasons["encouraged_random"])]
    elif ranked:
        encouraged = [_as_candidate(ranked[0])]

    discouraged: list[Candidate]
    if ranked and ranked[-1].q > 0:
        if random_advice:
            pool = record.valid_actions or known
            taken = {c.action for c in encouraged}
            choice = None
            for _ in range(10):
                pick = rng.choice(pool) if pool else None
                if pick is not None and pick not in taken:
                    choice = pick
                    break
            discouraged = [Candidate(action=choice, q=0.0, reason=reasons["discouraged_random"])] if choice else []
        else:
            discouraged = [_as_candidate(ranked[-1])]
    else:
        discouraged = [c for c in zero_q if c.action not in {e.action for e in encouraged}]
    return encouraged, discouraged
