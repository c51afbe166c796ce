"""The episode state that flows through the graph, and the typed records it accumulates.

One graph run is one episode. Everything in the state is plain data (pydantic models and
builtins), so any LangGraph checkpointer can persist it; the live environment object is kept
outside the state, in :class:`rememberer.tasks.sessions.EnvironmentSessions`, and rebuilt from
the recorded actions if a run resumes in another process.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from pydantic import BaseModel, Field
from typing_extensions import TypedDict


class Candidate(BaseModel):
    """One ``Encouraged:`` line of the model's answer."""

    action: str
    q: float
    reason: str = ""


class Exemplar(BaseModel):
    """A retrieved experience rendered as advice."""

    record_id: str
    task: str
    observation: str
    score: float
    encouraged: list[Candidate]
    discouraged: list[Candidate]
    text: str
    """The rendered exemplar as it appears in the prompt."""
    tokens: int


class StepRecord(BaseModel):
    """What happened at one step: the smolagents-style typed trace of the episode."""

    step: int
    task: str
    observation: str
    feedback: str = ""
    valid_actions: list[str] | None = None
    exemplar_ids: list[str] = Field(default_factory=list)
    prompt: str = ""
    raw_outputs: list[str] = Field(default_factory=list)
    """Every model answer for this step (a retry adds a second one)."""
    candidates: list[Candidate] = Field(default_factory=list)
    action: str | None = None
    """The executed action; None for a fallback no-op."""
    reason: str = ""
    predicted_q: float | None = None
    fallback: str | None = None
    """Why the step fell back to a no-op (malformed output after the retry, model error)."""
    reward: float = 0.0
    done: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    env_seconds: float = 0.0


class EpisodeInput(TypedDict, total=False):
    """What a caller passes to start an episode."""

    goal_id: str
    """Goal within the task set (e.g. a TextCraft item, a WebShop goal index)."""
    episode_id: str
    """Unique id; memory uses it to make the backup idempotent. Generated when absent."""


class EpisodeState(TypedDict, total=False):
    goal_id: str
    episode_id: str
    # -- what the environment shows now
    task: str
    """Task text (first half of the memory key)."""
    observation: str
    """Canonical state text (second half of the memory key)."""
    context: str
    """Extra text for the model that memory does not key on (e.g. TextCraft's recipes)."""
    feedback: str
    valid_actions: list[str] | None
    action_history: list[str]
    # -- the decision in progress
    exemplars: list[Exemplar]
    prompt: str
    raw_outputs: list[str]
    candidates: list[Candidate]
    parse_error: str | None
    chosen: Candidate | None
    prompt_tokens: int
    completion_tokens: int
    model_seconds: float
    # -- the episode so far
    steps: Annotated[list[StepRecord], operator.add]
    step_count: int
    total_reward: float
    done: bool
    success: bool
    truncated: bool
    training: bool
    """Copied from the context at reset: whether the episode ends with the RLEM backup."""
    fallbacks: int
    retries: int
    backup: dict[str, Any]
    """Summary of the RLEM update written at episode end (training runs)."""
