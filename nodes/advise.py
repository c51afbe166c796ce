"""Node ``advise``: assemble the prompt (preamble, exemplars with advice, the new input)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext, agent_context
from rememberer.graph.state import EpisodeState

from . import resources
from .prompting import render_input_block, render_prompt


def build_prompt(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    ctx = agent_context(runtime)
    block = render_input_block(
        task=state["task"],
        observation=state["observation"],
        history=state.get("action_history", []),
        history_length=ctx.history_length,
        feedback=state.get("feedback", ""),
        context=state.get("context", ""),
        valid_actions=state.get("valid_actions"),
    )
    prompt = render_prompt(resources.task_set(ctx).preamble, [e.text for e in state.get("exemplars", [])], block)
    return {
        "prompt": prompt,
        "raw_outputs": [],
        "candidates": [],
        "chosen": None,
        "parse_error": None,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "model_seconds": 0.0,
    }
