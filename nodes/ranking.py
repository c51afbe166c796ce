"""``rank`` decoding: score every valid action with the model's log-probabilities plus advice.

The paper's protocol (``generate``) lets the model write ``action -> Q`` lines and executes
the highest predicted Q. A 270M-parameter model copies strings more than it reads them
(measured: it echoes actions from the history or even from ``Discouraged`` lines), so it
rarely turns advice into the right choice. ``rank`` keeps the same prompt, but instead of
sampling it reads the model's mean log-probability of each valid action as the line that
follows ``Encouraged:`` and adds ``advice_weight × Q × similarity²`` for the actions the
exemplars encourage. The spec's probe
found this makes advice-following near-deterministic (99–100%) at ~0.5 s per decision.

Only for in-process llama.cpp models and tasks that list their valid actions (all of a
state's actions concrete, e.g. not WebShop's free-text ``search[...]``); elsewhere, and for a
corrected retry, the node generates. ``decoding="auto"`` (the default) picks ``rank`` for the
embedded model and ``generate`` for every other one. All candidates are scored in one batched
pass over the shared prompt (:mod:`.batch_scoring`).
"""

from __future__ import annotations

from collections.abc import Sequence

from rememberer.graph.state import Candidate, Exemplar


def action_logprobs(model, prompt: str, actions: Sequence[str]) -> dict[str, float]:
    """Mean log-probability per token of each action (plus the ``" ->"`` that ends it).

    The embedded model scores all of them in one batched llama.cpp pass over the shared prompt
    (:mod:`.batch_scoring`); raises ValueError when the prompt leaves no room to score.
    """
    return model.score_actions(prompt, actions, suffix=" ->")


def advised_values(exemplars: Sequence[Exemplar]) -> tuple[dict[str, float], dict[str, str]]:
    """Advice per action: its advised Q times the squared similarity of the exemplar, and the
    reason that advice gave.

    An action encouraged by an exemplar of the very same state (similarity 1) outweighs one
    encouraged by a neighbouring state; the best-supported value per action is kept.
    """
    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for exemplar in exemplars:
        weight = max(0.0, min(1.0, exemplar.score)) ** 2
        for candidate in [*exemplar.encouraged, *exemplar.discouraged]:
            value = candidate.q * weight
            if candidate.action not in values or value > values[candidate.action]:
                values[candidate.action] = value
                reasons[candidate.action] = candidate.reason
    return values, reasons


def rank_candidates(
    model, prompt: str, valid_actions: Sequence[str], exemplars: Sequence[Exemplar], advice_weight: float
) -> list[tuple[Candidate, str]]:
    """Valid actions best first, each with a diagnostic note (advice and log-probability).

    ``q`` is the ranking score ``advice + mean log p / weight``; the candidate's reason is the
    reason of the advice it follows (it is what memory keeps), not the diagnostic.
    """
    logprobs = action_logprobs(model, prompt, valid_actions)
    advice, reasons = advised_values(exemplars)
    weight = advice_weight if advice_weight > 0 else 1.0
    ranked = []
    for index, action in enumerate(valid_actions):
        q_advice = advice.get(action, 0.0)
        score = q_advice + logprobs[action] / weight if advice_weight > 0 else logprobs[action]
        ranked.append((score, -index, action, q_advice))
    ranked.sort(reverse=True)
    return [
        (
            Candidate(action=action, q=round(score, 4), reason=reasons.get(action, "") if q_advice > 0 else ""),
            f"(advice {q_advice:.2f}, log p {logprobs[action]:.2f})",
        )
        for score, _, action, q_advice in ranked
    ]
