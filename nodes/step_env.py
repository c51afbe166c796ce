"""Node ``step_env``: execute the chosen action, or record a fallback no-op, and log the step.

A fallback (no usable answer after the retry) does not touch the environment; it is counted
in the results and toward the step cap, so a model that never answers cannot loop forever.
Fallback steps are not experience: the backup skips them (the original re-pushed the same
state after a failed parse, creating spurious self-transitions).
"""

from __future__ import annotations

import time

from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext, agent_context
from rememberer.graph.state import EpisodeState, StepRecord

from . import resources


def step_environment(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    ctx = agent_context(runtime)
    chosen = state.get("chosen")
    raw_outputs = state.get("raw_outputs", [])
    step = state.get("step_count", 0)
    record = StepRecord(
        step=step,
        task=state["task"],
        observation=state["observation"],
        feedback=state.get("feedback", ""),
        valid_actions=state.get("valid_actions"),
        exemplar_ids=[e.record_id for e in state.get("exemplars", [])],
        prompt=state.get("prompt", ""),
        raw_outputs=list(raw_outputs),
        candidates=list(state.get("candidates", [])),
        prompt_tokens=state.get("prompt_tokens", 0),
        completion_tokens=state.get("completion_tokens", 0),
        model_seconds=round(state.get("model_seconds", 0.0), 4),
    )
    update: dict = {"step_count": step + 1, "retries": state.get("retries", 0) + max(0, len(raw_outputs) - 1)}
    if chosen is None:
        record.fallback = state.get("parse_error") or "no usable answer"
        update["fallbacks"] = state.get("fallbacks", 0) + 1
    else:
        started = time.perf_counter()
        history = state.get("action_history", [])
        result = resources.sessions(ctx).step(state["episode_id"], state["goal_id"], history, chosen.action)
        record.env_seconds = round(time.perf_counter() - started, 5)
        record.action, record.reason, record.predicted_q = chosen.action, chosen.reason, chosen.q
        scheme = resources.keys(ctx)
        if scheme.name != "verbatim":
            context = state.get("context", "")
            record.memory_task, record.memory_observation = scheme.state_key(state["task"], state["observation"], context)
            record.memory_action = scheme.action_key(chosen.action, state["task"], state["observation"], context)
        record.reward, record.done = result.reward, result.done
        update.update(
            task=result.task,
            observation=result.observation,
            context=result.context,
            feedback=result.feedback,
            valid_actions=resources.shown_actions(ctx, result.task, result.observation, result.context, result.valid_actions),
            action_history=history + [chosen.action],
            total_reward=state.get("total_reward", 0.0) + result.reward,
            done=result.done,
            success=result.success,
        )
    if not update.get("done", state.get("done", False)) and update["step_count"] >= resources.step_cap(ctx):
        update["truncated"] = True
    update["steps"] = [record]
    return update
