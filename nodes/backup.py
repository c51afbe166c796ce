"""Node ``backup``: the RLEM update of the experience memory at episode end (training only)."""

from __future__ import annotations

from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext, agent_context
from rememberer.graph.state import EpisodeState
from rememberer.memory import Episode, RLEMConfig, Transition
from rememberer.memory.records import MAX_LIST_ITEMS
from rememberer.tasks.base import VERBATIM, MemoryKeys

from . import resources
from .models import model_id


def episode_transitions(state: EpisodeState, scheme: MemoryKeys = VERBATIM) -> tuple[Transition, ...]:
    """The executed steps as RLEM transitions (fallback no-ops are not experience), keyed as
    the steps recorded them (``memory_*`` fields: goal-relative keys)."""
    context = state.get("context", "")
    transitions = []
    history: list[str] = []
    for step in state.get("steps", []):
        if step.action is None:
            continue
        valid = step.valid_actions or ()
        if step.memory_action is not None:  # goal-relative keys: the state, action and options as memory keys them
            valid = tuple(dict.fromkeys(scheme.action_key(a, step.task, step.observation, context) for a in valid))
        transitions.append(
            Transition(
                task=step.memory_task or step.task,
                observation=step.memory_observation or step.observation,
                action=step.memory_action or step.action,
                reward=step.reward,
                reason=step.reason,
                action_history=tuple(history),
                # a record keeps at most MAX_LIST_ITEMS valid actions (the exploration sample);
                # ScienceWorld lists up to ~3,800 in some rooms
                valid_actions=tuple(valid[:MAX_LIST_ITEMS]),
            )
        )
        history.append(step.memory_action or step.action)
    return tuple(transitions)


def backup_memory(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    ctx = agent_context(runtime)
    scheme = resources.keys(ctx)
    transitions = episode_transitions(state, scheme)
    if not transitions:
        return {"backup": {"records_written": 0, "new_records": 0, "note": "no executed actions"}}
    # the state the episode stopped in, keyed like the transitions (n-step bootstraps it after a step-cap cut)
    final = scheme.state_key(state["task"], state["observation"], state.get("context", ""))[1]
    episode = Episode(
        episode_id=state["episode_id"],
        transitions=transitions,
        final_observation=final,
        terminal=bool(state.get("done")),
        run_id=ctx.run_id,
        model=model_id(resources.model(ctx), ctx.model),
    )
    config = RLEMConfig(gamma=ctx.gamma, update_mode=ctx.update_mode, learning_rate=ctx.learning_rate, n_step=ctx.n_step)
    report = resources.memory(ctx).apply_episode(episode, config)
    resources.sessions(ctx).close(state["episode_id"])
    return {
        "backup": {
            "records_written": report.records_written,
            "new_records": report.new_records,
            "skipped_transitions": report.skipped_transitions,
            "evicted": report.evicted,
            "targets": [round(t, 4) for t in report.targets],
            "bootstraps": report.bootstraps,
        }
    }
