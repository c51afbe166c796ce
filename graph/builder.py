"""The REMEMBERER state machine: one graph run is one episode.

    START → reset → retrieve → advise → call_model → parse ─┬─(malformed, first try)→ call_model
                        ↑                                   └→ step_env ─┬─(not done)→ retrieve
                        └────────────────────────────────────────────────┤
                                                                         ├─(done, training)→ backup → END
                                                                         └─(done, frozen)→ END

``builder`` is exported for callers that compile with a checkpointer or store (the runner,
tests, notebooks); ``graph`` is compiled without persistence for ``langgraph.json``.
Compiling builds no model, memory or environment: those are created on first use from the
run's :class:`AgentContext`.
"""

from __future__ import annotations

from typing import Literal

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from rememberer.graph.context import AgentContext
from rememberer.graph.state import Candidate, EpisodeInput, EpisodeState, Exemplar, StepRecord
from rememberer.nodes.advise import build_prompt
from rememberer.nodes.backup import backup_memory
from rememberer.nodes.call_model import call_model_node
from rememberer.nodes.parse import parse_answer
from rememberer.nodes.reset import reset_episode
from rememberer.nodes.retrieve import retrieve_experience
from rememberer.nodes.step_env import step_environment

MAX_MODEL_CALLS_PER_STEP = 2  # the first answer and one corrected retry


def route_after_parse(state: EpisodeState) -> Literal["call_model", "step_env"]:
    """Retry once with a correction when the answer was unusable; then act or fall back."""
    if state.get("chosen") is None and len(state.get("raw_outputs", [])) < MAX_MODEL_CALLS_PER_STEP:
        return "call_model"
    return "step_env"


def route_after_step(state: EpisodeState) -> Literal["retrieve", "backup", "__end__"]:
    """Next decision, or the end of the episode (with the backup when training)."""
    if state.get("done") or state.get("truncated"):
        return "backup" if state.get("training", True) else END
    return "retrieve"


def route_after_reset(state: EpisodeState) -> Literal["retrieve", "__end__"]:
    return END if state.get("done") else "retrieve"


def recursion_limit(step_cap: int) -> int:
    """Graph steps an episode of ``step_cap`` decisions can take, with margin."""
    per_decision = 3 + 2 * MAX_MODEL_CALLS_PER_STEP + 1  # retrieve, advise, (call, parse)×2, step
    return 4 + step_cap * per_decision


CHECKPOINT_TYPES = (StepRecord, Candidate, Exemplar)
"""The typed records the state holds: what a checkpoint may deserialize besides builtins."""


def serializer() -> JsonPlusSerializer:
    """A checkpoint serializer that accepts exactly the state's record types (no
    "unregistered type" warnings now, and no arbitrary classes once LangGraph blocks them)."""
    return JsonPlusSerializer(allowed_msgpack_modules=[(t.__module__, t.__name__) for t in CHECKPOINT_TYPES])


def checkpointer() -> InMemorySaver:
    """An in-memory checkpointer with :func:`serializer` (the runner uses one per run)."""
    return InMemorySaver(serde=serializer())


class EpisodeGraph(CompiledStateGraph):
    """The compiled episode graph. Its copies keep the checkpoint allowlist: LangGraph's
    ``copy`` (behind ``with_config``, and the per-run copy with its own checkpointer that
    ``langgraph dev`` makes) rebuilds the graph without it, so under strict msgpack
    (``LANGGRAPH_STRICT_MSGPACK=true``, as in ``langgraph.json``) a copy would read the state's
    records back as plain dicts ("Blocked deserialization of …StepRecord")."""

    def copy(self, update: dict | None = None) -> "EpisodeGraph":
        clone = super().copy(update)
        clone._serde_allowlist = self._serde_allowlist
        return clone


class EpisodeGraphBuilder(StateGraph):
    """``StateGraph`` whose ``compile`` returns an :class:`EpisodeGraph` whose allowlist (under
    strict msgpack) names :data:`CHECKPOINT_TYPES` explicitly, besides what LangGraph collects."""

    def compile(self, *args, **kwargs) -> EpisodeGraph:
        compiled = super().compile(*args, **kwargs)
        graph = EpisodeGraph(**{k: v for k, v in compiled.__dict__.items() if k != "__orig_class__"})
        allowlist = compiled._serde_allowlist
        graph._serde_allowlist = None if allowlist is None else allowlist | {(t.__module__, t.__name__) for t in CHECKPOINT_TYPES}
        return graph


builder = EpisodeGraphBuilder(EpisodeState, context_schema=AgentContext, input_schema=EpisodeInput)
builder.add_node("reset", reset_episode)
builder.add_node("retrieve", retrieve_experience)
builder.add_node("advise", build_prompt)
builder.add_node("call_model", call_model_node)
builder.add_node("parse", parse_answer)
builder.add_node("step_env", step_environment)
builder.add_node("backup", backup_memory)
builder.add_edge(START, "reset")
builder.add_conditional_edges("reset", route_after_reset, ["retrieve", END])
builder.add_edge("retrieve", "advise")
builder.add_edge("advise", "call_model")
builder.add_edge("call_model", "parse")
builder.add_conditional_edges("parse", route_after_parse, ["call_model", "step_env"])
builder.add_conditional_edges("step_env", route_after_step, ["retrieve", "backup", END])
builder.add_edge("backup", END)

graph = builder.compile(name="rememberer")
