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
in-process model and ``generate`` for every other one. Each candidate is scored as its own continuation; shared
token prefixes are evaluated once (a trie walk over the KV cache).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from rememberer.graph.state import Candidate, Exemplar


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max()
    return shifted - np.log(np.exp(shifted).sum())


def _last_logits(llm) -> np.ndarray:
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)


def action_logprobs(llama_wrapper, prompt: str, actions: Sequence[str]) -> dict[str, float]:
    """Mean log-probability per token of each action (plus the ``" ->"`` that ends it)."""
    llm = llama_wrapper.client
    prompt_tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    sequences = {a: llm.tokenize(f"{a} ->".encode("utf-8"), add_bos=False, special=False) for a in actions}
    longest = max((len(t) for t in sequences.values()), default=0)
    if len(prompt_tokens) + longest >= llm.n_ctx():
        raise ValueError(f"prompt of {len(prompt_tokens)} tokens leaves no room to score actions (n_ctx {llm.n_ctx()})")
    # Reuse whatever prefix of this prompt is already in the KV cache (e.g. the preamble).
    cached = llm.input_ids[: llm.n_tokens]
    common = 0
    for have, want in zip(cached, prompt_tokens):
        if have != want:
            break
        common += 1
    llm.n_tokens = min(common, len(prompt_tokens) - 1)  # re-evaluate at least one token for fresh logits
    llm.eval(prompt_tokens[llm.n_tokens :])
    base = llm.n_tokens
    totals: dict[str, float] = defaultdict(float)

    def walk(depth: int, logprobs: np.ndarray, group: list[tuple[str, list[int]]]) -> None:
        children: dict[int, list[tuple[str, list[int]]]] = defaultdict(list)
        for action, tokens in group:
            totals[action] += float(logprobs[tokens[depth]])
            if depth + 1 < len(tokens):
                children[tokens[depth]].append((action, tokens))
        for token, subgroup in children.items():
            llm.n_tokens = base + depth
            llm.eval([token])
            walk(depth + 1, _log_softmax(_last_logits(llm)), subgroup)

    walk(0, _log_softmax(_last_logits(llm)), [(a, t) for a, t in sequences.items() if t])
    llm.n_tokens = base
    return {a: totals[a] / max(1, len(t)) for a, t in sequences.items()}


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
    llama_wrapper, prompt: str, valid_actions: Sequence[str], exemplars: Sequence[Exemplar], advice_weight: float
) -> list[tuple[Candidate, str]]:
    """Valid actions best first, each with a diagnostic note (advice and log-probability).

    ``q`` is the ranking score ``advice + mean log p / weight``; the candidate's reason is the
    reason of the advice it follows (it is what memory keeps), not the diagnostic.
    """
    logprobs = action_logprobs(llama_wrapper, prompt, valid_actions)
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
