"""Node ``advise``: assemble the prompt (preamble, exemplars with advice, the new input; with
``prompt_layout='goal-first'`` the new input's goal and context before the exemplars)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext, agent_context
from rememberer.graph.state import EpisodeState

from . import resources
from .prompting import render_goal_block, render_input_block, render_prompt


def build_prompt(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    ctx = agent_context(runtime)
    exemplars = [e.text for e in state.get("exemplars", [])]
    context = state.get("context", "")
    goal_first = ctx.prompt_layout == "goal-first" and bool(exemplars)
    block = render_input_block(
        task=state["task"],
        observation=state["observation"],
        history=state.get("action_history", []),
        history_length=ctx.history_length,
        feedback=state.get("feedback", ""),
        context="" if goal_first else context,
        valid_actions=state.get("valid_actions"),
    )
    goal = render_goal_block(state["task"], context) if goal_first else None
    prompt = render_prompt(resources.task_set(ctx).preamble, exemplars, block, goal)
    return {
        "prompt": prompt,
        "raw_outputs": [],
        "candidates": [],
        "chosen": None,
        "parse_error": None,
        "ranked": False,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "model_seconds": 0.0,
    }
