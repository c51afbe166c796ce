"""Node ``reset``: start the episode's environment at its goal."""

from __future__ import annotations

import uuid

from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext, agent_context
from rememberer.graph.state import EpisodeState

from . import resources


def reset_episode(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    ctx = agent_context(runtime)
    goal_id = state.get("goal_id")
    if not goal_id:
        raise ValueError("an episode needs a goal_id, e.g. graph.invoke({'goal_id': ...})")
    episode_id = state.get("episode_id") or f"{ctx.run_id}:{goal_id}:{uuid.uuid4().hex[:8]}"
    first = resources.sessions(ctx).start(episode_id, goal_id)
    return {
        "episode_id": episode_id,
        "task": first.task,
        "observation": first.observation,
        "context": first.context,
        "feedback": first.feedback,
        "valid_actions": resources.shown_actions(ctx, first.task, first.observation, first.context, first.valid_actions),
        "action_history": [],
        "step_count": 0,
        "total_reward": 0.0,
        "done": first.done,
        "success": first.success,
        "truncated": False,
        "training": ctx.training,
        "fallbacks": 0,
        "retries": 0,
        "backup": {},
    }
