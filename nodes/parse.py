"""Node ``parse``: read candidates and the chosen action from the model's answer."""

from __future__ import annotations

from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext
from rememberer.graph.state import EpisodeState

from .parsing import ParseError, parse_candidates


def parse_answer(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    if state.get("ranked") and state.get("candidates"):
        return {}  # ``rank`` decoding set the candidates and the choice itself
    raw = state.get("raw_outputs") or [""]
    if state.get("parse_error", "") and raw[-1] == "":
        return {"candidates": [], "chosen": None}  # the model call itself failed
    try:
        candidates = parse_candidates(raw[-1], state.get("valid_actions"))
    except ParseError as exc:
        return {"candidates": [], "chosen": None, "parse_error": str(exc)}
    return {"candidates": candidates, "chosen": candidates[0], "parse_error": None}
