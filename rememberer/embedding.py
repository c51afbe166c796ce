"""The agent inside other LangChain and LangGraph code, without tricks.

Three shapes, all built from the same compiled graph and one :class:`AgentContext` given once:

* :func:`agent` — the graph itself, ready for LCEL: the context bound, ``values`` stream mode
  (so the next step of a pipeline gets the episode state, not a node update), and the recursion
  limit computed from the step cap (LangChain's default of 25 stops a 12-step episode).
* :func:`episode_runnable` — ``goal id → compact result``: accepts a goal id string or an
  ``EpisodeInput`` dict and returns :func:`episode_summary` (a small JSON-able dict). It works
  with ``invoke``, ``batch``, ``stream``, ``ainvoke`` and ``astream_events``, inside a pipeline
  and as a node of a parent graph that has its own state and context schema.
* :func:`episode_tool` — a LangChain tool (``goal_id`` in, the compact result out) for
  ``create_agent`` or any tool-calling model.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from rememberer.graph.builder import graph, recursion_limit
from rememberer.graph.context import AgentContext


def _context(context: AgentContext | dict[str, Any] | None) -> AgentContext:
    if context is None:
        return AgentContext()
    if isinstance(context, dict):
        return AgentContext(**context)
    return context


def step_cap_of(context: AgentContext) -> int:
    """The context's step cap, or its task set's (loads the task set, builds nothing else)."""
    from rememberer.nodes import resources

    return resources.step_cap(context)


def agent(context: AgentContext | dict[str, Any] | None = None, *, step_cap: int | None = None) -> Runnable:
    """The episode graph with the context bound, ``values`` streaming and a fitting recursion limit."""
    ctx = _context(context)
    cap = step_cap or step_cap_of(ctx)
    return graph.copy({"stream_mode": "values"}).bind(context=ctx).with_config(
        recursion_limit=recursion_limit(cap), run_name="rememberer"
    )


def episode_input(value: str | dict[str, Any]) -> dict[str, Any]:
    """A goal id, or a dict with ``goal_id`` (and optionally ``episode_id``)."""
    if isinstance(value, str):
        return {"goal_id": value}
    if isinstance(value, dict) and isinstance(value.get("goal_id"), str):
        return {k: value[k] for k in ("goal_id", "episode_id") if k in value}
    raise ValueError(f"expected a goal id or a dict with 'goal_id', got {value!r}")


def episode_summary(state: dict[str, Any]) -> dict[str, Any]:
    """The compact, JSON-able result of one episode (what a tool or a pipeline needs)."""
    steps = state.get("steps", [])
    backup = state.get("backup") or {}
    return {
        "goal_id": state.get("goal_id"),
        "episode_id": state.get("episode_id"),
        "task": state.get("task"),
        "success": bool(state.get("success")),
        "reward": float(state.get("total_reward", 0.0)),
        "steps": len(steps),
        "truncated": bool(state.get("truncated")),
        "actions": [s.action for s in steps],
        "fallbacks": int(state.get("fallbacks", 0)),
        "memory_records_written": backup.get("records_written", 0),
    }


def episode_runnable(context: AgentContext | dict[str, Any] | None = None, *, step_cap: int | None = None) -> Runnable:
    """``goal id → compact result`` as one Runnable (see the module docstring)."""
    return (RunnableLambda(episode_input, name="episode_input") | agent(context, step_cap=step_cap)
            | RunnableLambda(episode_summary, name="episode_summary")).with_config(run_name="rememberer_episode")


class EpisodeToolInput(BaseModel):
    goal_id: str = Field(description="Goal to play, e.g. a TextCraft item such as 'oak planks' or a chain goal 'corridor-3'.")


def episode_tool(context: AgentContext | dict[str, Any] | None = None, *, name: str = "play_episode",
                 description: str | None = None, step_cap: int | None = None) -> BaseTool:
    """A tool that plays one episode with the experience memory and returns the compact result.

    Training follows the context (``training=False`` keeps the memory frozen)."""
    ctx = _context(context)
    runnable = episode_runnable(ctx, step_cap=step_cap)
    goals = ""
    if ctx.task_set_instance is not None:
        goals = " Known goals: " + ", ".join(sum((list(v) for v in ctx.task_set_instance.splits.values()), [])[:12]) + "."
    description = description or (
        f"Play one {ctx.task_set} episode toward a goal with the REMEMBERER agent (an LLM advised by its experience "
        f"memory). Returns success, reward, steps and the actions taken.{goals}"
    )

    def play(goal_id: str) -> dict[str, Any]:
        return runnable.invoke(goal_id)

    async def aplay(goal_id: str) -> dict[str, Any]:
        return await runnable.ainvoke(goal_id)

    return StructuredTool.from_function(func=play, coroutine=aplay, name=name, description=description,
                                        args_schema=EpisodeToolInput)


def frozen(context: AgentContext) -> AgentContext:
    """A copy of the context with the memory frozen (evaluation)."""
    return replace(context, training=False)


__all__ = ["agent", "episode_input", "episode_runnable", "episode_summary", "episode_tool", "frozen", "step_cap_of"]
