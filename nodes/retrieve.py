"""Node ``retrieve``: the top-m similar experiences that fit the token budget, as advice.

Candidates come from the Chroma memory ranked by ``λ·task + (1−λ)·observation``
similarity (then visit count). Each is rendered with its advice and kept if it fits the
remaining budget, until ``top_m`` are kept. They are returned least similar first, so the
most similar exemplar sits right before the new input, as in the original.
"""

from __future__ import annotations

import random

from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext
from rememberer.graph.state import EpisodeState, Exemplar

from . import resources
from .advice import build_advice
from .models import count_tokens
from .prompting import render_exemplar, render_input_block


def retrieve_experience(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    ctx = runtime.context
    if not ctx.use_memory or ctx.top_m == 0:
        return {"exemplars": []}
    memory = resources.memory(ctx)
    model = resources.model(ctx)
    hits = memory.retrieve(state["task"], state["observation"], k=4 * ctx.top_m + 4)
    # Seeded per decision: a replayed or resumed step gets the same advice.
    rng = random.Random(f"{ctx.seed}:{state['episode_id']}:{state['step_count']}")
    budget = ctx.token_budget
    kept: list[tuple[object, list, list, str, int]] = []
    for hit in hits:
        record = hit.record
        encouraged, discouraged = build_advice(record, rng, random_advice=ctx.random_advice)
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
