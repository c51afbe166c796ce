"""The LangGraph layer: typed state, run-time context, and the episode state machine."""

from .batch import abatch_episodes, batch_episodes
from .builder import CHECKPOINT_TYPES, builder, checkpointer, graph, recursion_limit, route_after_parse, route_after_step, serializer
from .context import AgentContext
from .state import Candidate, EpisodeInput, EpisodeState, Exemplar, StepRecord

__all__ = [
    "abatch_episodes",
    "batch_episodes",
    "CHECKPOINT_TYPES",
    "AgentContext",
    "checkpointer",
    "serializer",
    "Candidate",
    "EpisodeInput",
    "EpisodeState",
    "Exemplar",
    "StepRecord",
    "builder",
    "graph",
    "recursion_limit",
    "route_after_parse",
    "route_after_step",
]
