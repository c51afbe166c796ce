"""Run-time knobs of the agent, passed as LangGraph's ``context`` (``Runtime[AgentContext]``).

Plain values (strings, numbers) configure everything from the CLI, LangGraph Studio or a
notebook. The four ``*_instance`` fields are the injection seams: a runner or a test passes
a ready model, memory store, task set or session table, and the nodes use it instead of
building one from the plain values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any, Literal


def _env(name: str, default: Any) -> Any:
    return os.environ.get(name, default)


@dataclass(kw_only=True)
class AgentContext:
    task_set: str = field(default="textcraft", metadata={"description": "Task set name (textcraft, webshop, chain)."})
    model: str = field(
        default="local",
        metadata={
            "description": "Model spec: 'local' (embedded llama.cpp Gemma-3-270M), 'local:/path/model.gguf', "
            "'openai:<model>' (chat) or 'openai-completion:<model>' for any OpenAI-compatible endpoint."
        },
    )
    base_url: str | None = field(default=None, metadata={"description": "OpenAI-compatible endpoint URL."})
    api_key: str | None = field(default=None, metadata={"description": "Key for the endpoint (else OPENAI_API_KEY)."})
    memory_dir: str = field(default=".rememberer/memory", metadata={"description": "Chroma directory of the experience memory."})
    namespace: str | None = field(default=None, metadata={"description": "Memory namespace; defaults to the task set name."})
    training: bool = field(default=True, metadata={"description": "Run the RLEM backup at episode end (False = frozen memory)."})
    use_memory: bool = field(default=True, metadata={"description": "Retrieve exemplars (False = no-memory baseline)."})
    top_m: int = field(default=2, metadata={"description": "Exemplars per prompt."})
    token_budget: int = field(default=1800, metadata={"description": "Tokens allowed for the exemplars."})
    history_length: int = field(default=5, metadata={"description": "Previous actions shown in each input block."})
    max_steps: int | None = field(default=None, metadata={"description": "Step cap per episode (None = task set default)."})
    gamma: float = field(default=1.0, metadata={"description": "Discount factor γ."})
    update_mode: Literal["mean", "const"] = field(default="mean", metadata={"description": "α = 1/N ('mean') or constant."})
    learning_rate: float = field(default=0.1, metadata={"description": "α when update_mode='const'."})
    n_step: int | None = field(default=None, metadata={"description": "None = Monte-Carlo return; n = n-step bootstrapping."})
    random_advice: bool = field(
        default=True, metadata={"description": "Random encouraged/discouraged actions when no Q is informative (paper default)."}
    )
    decoding: Literal["auto", "generate", "rank"] = field(
        default="auto",
        metadata={
            "description": "'generate': the model writes 'action -> Q' lines (the paper's protocol); 'rank': score the "
            "valid actions by log-probability + advice_weight × advised Q (in-process llama.cpp only); 'auto': rank "
            "for in-process llama.cpp models, generate for every other model."
        },
    )
    advice_weight: float = field(default=5.0, metadata={"description": "Weight of the advised Q in 'rank' decoding."})
    temperature: float = field(default=0.0, metadata={"description": "Sampling temperature."})
    max_tokens: int = field(default=96, metadata={"description": "Tokens the model may write per call."})
    seed: int = field(default=0, metadata={"description": "Seed of the advice randomness."})
    run_id: str = field(default="adhoc", metadata={"description": "Run id written into memory provenance."})
    model_instance: Any = field(default=None, metadata={"description": "Injected LangChain model (tests, pipelines)."})
    memory_instance: Any = field(default=None, metadata={"description": "Injected ExperienceMemory."})
    task_set_instance: Any = field(default=None, metadata={"description": "Injected TaskSet."})
    sessions_instance: Any = field(default=None, metadata={"description": "Injected EnvironmentSessions."})

    def __post_init__(self) -> None:
        # Environment fallbacks, as in the LangGraph templates, for Studio and the CLI.
        self.model = _env("REMEMBERER_MODEL", self.model) if self.model == "local" else self.model
        self.base_url = self.base_url or os.environ.get("OPENAI_BASE_URL")
        self.memory_dir = _env("REMEMBERER_MEMORY_DIR", self.memory_dir) if self.memory_dir == ".rememberer/memory" else self.memory_dir
        if self.top_m < 0 or self.history_length < 0 or self.token_budget < 0:
            raise ValueError("top_m, history_length and token_budget must be ≥ 0")
        if self.decoding not in ("auto", "generate", "rank"):
            raise ValueError(f"decoding must be 'auto', 'generate' or 'rank', got {self.decoding!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be ≥ 1")

    @property
    def memory_namespace(self) -> str:
        return self.namespace or self.task_set

    def plain(self) -> dict[str, Any]:
        """The JSON-able knobs (for run directories and logs)."""
        out = {}
        for f in fields(self):
            if f.name.endswith("_instance") or f.name == "api_key":
                continue
            out[f.name] = getattr(self, f.name)
        return out
