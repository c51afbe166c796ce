"""Node ``retrieve``: the top-m similar experiences that fit the token budget, as advice.

Candidates come from the Chroma memory ranked by ``λ·task + (1−λ)·observation``
similarity (then visit count). Each is rendered with its advice and kept if it fits the
remaining budget, until ``top_m`` are kept. They are returned least similar first, so the
most similar exemplar sits right before the new input, as in the original.

With goal-relative keys (the default where the task set defines them) the query is the
current state's key, and each exemplar's advice, stored as action keys, is mapped to the
actions valid now (:func:`concretize_advice`); advice with no counterpart now is dropped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext, agent_context
from rememberer.graph.state import Candidate, EpisodeState, Exemplar
from rememberer.memory.records import ExperienceRecord

from . import resources
from .advice import build_advice
from .models import count_tokens
from .prompting import render_exemplar, render_input_block


MAX_CONCRETE = 3
"""A discouraged key stands for at most this many concrete actions in the prompt."""


def concretize_advice(scheme, state: EpisodeState, advice: list[Candidate], rng: random.Random) -> list[Candidate]:
    """Map advised action keys to actions valid now: an encouraged key to one of its actions
    (seeded choice), a discouraged key to up to ``MAX_CONCRETE`` of them. Keys with no valid
    action now are dropped. The key goes with each action (the prompt shows it before the
    reason), so the reason the memory keeps is the stored one, whatever was concretized."""
    out: list[Candidate] = []
    task, observation, context = state["task"], state["observation"], state.get("context", "")
    for candidate in advice:
        matches = scheme.concretize(candidate.action, task, observation, context, state.get("valid_actions"))
        if not matches:
            continue
        chosen = [rng.choice(matches)] if candidate.q > 0 else matches[:MAX_CONCRETE]
        out.extend(Candidate(action=a, q=candidate.q, reason=candidate.reason, key=candidate.action) for a in chosen)
    return out


@dataclass
class RandomHit:
    record: ExperienceRecord
    score: float = 0.0


def sample_records(memory, k: int, rng: random.Random) -> list[ExperienceRecord]:
    """``k`` records drawn uniformly from the whole memory (one pass; for the ablation)."""
    sample: list[ExperienceRecord] = []
    for seen, record in enumerate(memory.records(), start=1):  # reservoir sampling
        if len(sample) < k:
            sample.append(record)
        elif (j := rng.randrange(seen)) < k:
            sample[j] = record
    return sample


def pooled_q(hits) -> dict[str, float]:
    """Each action's Q averaged over the retrieved records that know it, weighted by similarity."""
    sums: dict[str, list[float]] = {}
    for hit in hits:
        weight = max(hit.score, 1e-6)
        for entry in hit.record.actions:
            total = sums.setdefault(entry.action, [0.0, 0.0])
            total[0] += weight * entry.q
            total[1] += weight
    return {action: q / w for action, (q, w) in sums.items()}


def with_pooled_q(record: ExperienceRecord, pooled: dict[str, float]) -> ExperienceRecord:
    """A copy of ``record`` whose actions carry the pooled Q (the stored record is untouched)."""
    copy = record.model_copy(deep=True)
    for entry in copy.actions:
        entry.q = pooled.get(entry.action, entry.q)
    return copy


def replay_advice(record: ExperienceRecord) -> list[Candidate]:
    """Plain experience replay: the action tried most often here, without its value."""
    if not record.actions:
        return []
    top = max(record.actions, key=lambda a: (a.visits, a.updated_at))
    return [Candidate(action=top.action, q=1.0, reason=top.reason)]


def retrieve_experience(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    ctx = agent_context(runtime)
    if not ctx.use_memory or ctx.top_m == 0:
        return {"exemplars": []}
    memory = resources.memory(ctx)
    model = resources.model(ctx)
    scheme = resources.keys(ctx)
    context = state.get("context", "")
    task_key, observation_key = scheme.state_key(state["task"], state["observation"], context)
    # Seeded per decision: a replayed or resumed step gets the same advice.
    rng = random.Random(f"{ctx.seed}:{state['episode_id']}:{state['step_count']}")
    if ctx.exemplar_choice == "random":  # ablation: any remembered states, not similar ones
        hits = [RandomHit(r) for r in sample_records(memory, 4 * ctx.top_m + 4, rng)]
    else:
        hits = memory.retrieve(task_key, observation_key, k=4 * ctx.top_m + 4)
    budget = ctx.token_budget
    kept: list[tuple[object, list, list, str, int]] = []
    pooled = pooled_q(hits) if ctx.aggregate_q else None
    for hit in hits:
        record = hit.record if pooled is None else with_pooled_q(hit.record, pooled)
        if ctx.advice == "replay":
            encouraged, discouraged = replay_advice(record), []
        else:
            encouraged, discouraged = build_advice(record, rng, random_advice=ctx.random_advice)
        if not ctx.discourage:
            discouraged = []
        if scheme.name != "verbatim":  # advice in goal-relative keys → the concrete actions valid now
            encouraged, discouraged = concretize_advice(scheme, state, encouraged, rng), concretize_advice(scheme, state, discouraged, rng)
        if not encouraged and not discouraged:
            continue
        block = render_input_block(
            task=record.task,
            observation=record.observation,
            history=record.action_history,
            history_length=ctx.history_length,
        )
        tokens = count_tokens(render_exemplar(len(kept) + 1, block, encouraged, discouraged), model) + 1
        if tokens > budget:
            continue
        budget -= tokens
        kept.append((hit, encouraged, discouraged, block, tokens - 1))
        if len(kept) == ctx.top_m:
            break
    exemplars = []
    for number, (hit, encouraged, discouraged, block, tokens) in enumerate(reversed(kept), start=1):
        text = render_exemplar(number, block, encouraged, discouraged)
        exemplars.append(
            Exemplar(
                record_id=hit.record.id,
                task=hit.record.task,
                observation=hit.record.observation,
                score=round(hit.score, 4),
                encouraged=encouraged,
                discouraged=discouraged,
                text=text,
                tokens=tokens,  # counted for the budget; renumbering changes one digit at most
            )
        )
    return {"exemplars": exemplars}
