"""The episode state that flows through the graph, and the typed records it accumulates.

One graph run is one episode. Everything in the state is plain data (pydantic models and
builtins), so any LangGraph checkpointer can persist it; the live environment object is kept
outside the state, in :class:`rememberer.tasks.sessions.EnvironmentSessions`, and rebuilt from
the recorded actions if a run resumes in another process.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict


class Candidate(BaseModel):
    """One ``Encouraged:`` line of the model's answer."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    action: str
    """An action as the model wrote it."""
    q: float
    """The Q value the model predicted for it."""
    reason: str = ""
    """The model's short justification (kept as the advice's reason in memory)."""
    key: str = ""
    """The memory key this concrete action stands for (goal-relative advice): shown in
    parentheses before the reason, never stored in it."""


class Exemplar(BaseModel):
    """A retrieved experience rendered as advice."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    record_id: str
    """Id of the memory record."""
    task: str
    """Task text of the remembered experience."""
    observation: str
    """Observation of the remembered experience."""
    score: float
    """Similarity to the current (task, observation)."""
    encouraged: list[Candidate]
    """Actions advised for (highest remembered Q)."""
    discouraged: list[Candidate]
    """Actions advised against (lowest remembered Q)."""
    text: str
    """The rendered exemplar as it appears in the prompt."""
    tokens: int
    """Tokens of the rendered exemplar."""


class StepRecord(BaseModel):
    """What happened at one step: the smolagents-style typed trace of the episode."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    step: int
    """Step number, from 0."""
    task: str
    """Task text at this step."""
    observation: str
    """Observation the decision was made on."""
    feedback: str = ""
    """What the environment said after the previous action."""
    valid_actions: list[str] | None = None
    """Actions the environment accepts now (None: free text)."""
    exemplar_ids: list[str] = Field(default_factory=list)
    """Memory records shown as advice."""
    prompt: str = ""
    """The full prompt (kept in trajectories with --save-prompts)."""
    raw_outputs: list[str] = Field(default_factory=list)
    """Every model answer for this step (a retry adds a second one)."""
    candidates: list[Candidate] = Field(default_factory=list)
    """Parsed 'action -> Q' lines of the answer."""
    action: str | None = None
    """The executed action; None for a fallback no-op."""
    reason: str = ""
    """The chosen candidate's reason."""
    predicted_q: float | None = None
    """The Q the model predicted for the executed action."""
    fallback: str | None = None
    """Why the step fell back to a no-op (malformed output after the retry, model error)."""
    memory_task: str | None = None
    """The task half of the memory key (None: the task text itself, verbatim keys)."""
    memory_observation: str | None = None
    """The observation half of the memory key (None: the observation itself)."""
    memory_action: str | None = None
    """The executed action as memory keys it (None: the action itself)."""
    reward: float = 0.0
    """Reward the environment returned."""
    done: bool = False
    """Whether the episode ended with this step."""
    prompt_tokens: int = 0
    """Prompt tokens of the model calls."""
    completion_tokens: int = 0
    """Completion tokens of the model calls."""
    model_seconds: float = 0.0
    """Seconds spent in the model."""
    env_seconds: float = 0.0
    """Seconds spent in the environment."""


class EpisodeInput(TypedDict, total=False):
    """What a caller passes to start an episode."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)  # field docstrings become schema descriptions (Studio)

    goal_id: str
    """Goal within the task set (e.g. a TextCraft item, a WebShop goal index)."""
    episode_id: str
    """Unique id; memory uses it to make the backup idempotent. Generated when absent."""


class EpisodeState(TypedDict, total=False):
    """One episode in progress: what the environment shows, the decision being made, and the record so far."""

    __pydantic_config__ = ConfigDict(use_attribute_docstrings=True)  # field docstrings become schema descriptions (Studio)

    goal_id: str
    """Goal within the task set."""
    episode_id: str
    """Unique id of this episode (memory provenance, idempotent backup)."""
    # -- what the environment shows now
    task: str
    """Task text (first half of the memory key)."""
    observation: str
    """Canonical state text (second half of the memory key)."""
    context: str
    """Extra text for the model that memory does not key on (e.g. TextCraft's recipes)."""
    feedback: str
    """What the environment said after the last action."""
    valid_actions: list[str] | None
    """Actions the environment accepts now (None: free text)."""
    action_history: list[str]
    """Actions taken so far (the last few are shown in the prompt)."""
    # -- the decision in progress
    exemplars: list[Exemplar]
    """Experiences retrieved from memory for this decision."""
    prompt: str
    """The prompt sent to the model for this decision."""
    raw_outputs: list[str]
    """The model's answers for this decision (a retry adds one)."""
    candidates: list[Candidate]
    """Parsed 'action -> Q' lines of the last answer."""
    parse_error: str | None
    """Why the last answer could not be used, if it could not."""
    ranked: bool
    """The last answer came from ``rank`` decoding: ``candidates`` are set, nothing to parse."""
    chosen: Candidate | None
    """The action about to be executed."""
    prompt_tokens: int
    """Prompt tokens of this decision."""
    completion_tokens: int
    """Completion tokens of this decision."""
    model_seconds: float
    """Model time of this decision."""
    # -- the episode so far
    steps: Annotated[list[StepRecord], operator.add]
    """One typed record per executed step."""
    step_count: int
    """Steps taken so far."""
    total_reward: float
    """Sum of rewards so far."""
    done: bool
    """The environment ended the episode."""
    success: bool
    """The goal was reached."""
    truncated: bool
    """The step cap ended the episode."""
    training: bool
    """Copied from the context at reset: whether the episode ends with the RLEM backup."""
    fallbacks: int
    """Steps that fell back to a no-op (unusable answers)."""
    retries: int
    """Corrected second model calls."""
    backup: dict[str, Any]
    """Summary of the RLEM update written at episode end (training runs)."""
