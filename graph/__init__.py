"""The LangGraph layer: typed state, run-time context, and the episode state machine."""

from .builder import builder, graph, recursion_limit, route_after_parse, route_after_step
from .context import AgentContext
from .state import Candidate, EpisodeInput, EpisodeState, Exemplar, StepRecord

__all__ = [
    "AgentContext",
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
