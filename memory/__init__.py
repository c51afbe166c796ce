"""Experience memory and the RLEM update. Independent of LangGraph: usable on its own.

>>> from rememberer.memory import ExperienceMemory, Episode, Transition, RLEMConfig
>>> memory = ExperienceMemory("runs/memory", namespace="textcraft")
>>> memory.apply_episode(Episode("ep-1", (Transition("Goal: craft x.", "inventory: -", "get 1 y", 1.0),)), RLEMConfig())
"""

from .embeddings import EmbeddingUnavailableError, HashingEmbedder, LangChainEmbeddings, MiniLMEmbedder, TextEmbedder
from .manifest import CorruptMemoryError
from .reader import MemoryReader
from .records import ActionValue, CorruptRecordError, ExperienceRecord, InvalidRecordError, Provenance, record_id
from .rlem import Episode, InMemoryTable, RLEMConfig, Transition, UpdatePlan, discounted_returns, n_step_target, plan_episode_update
from .similarity import combine, exact_match, lcs_ratio, line_jaccard, token_jaccard
from .store import ExperienceMemory, IncompatibleMemoryError, MemoryStoreError, ScoredRecord, UpdateReport

__all__ = [
    "ActionValue",
    "CorruptMemoryError",
    "CorruptRecordError",
    "Episode",
    "EmbeddingUnavailableError",
    "ExperienceMemory",
    "ExperienceRecord",
    "HashingEmbedder",
    "InMemoryTable",
    "InvalidRecordError",
    "MemoryReader",
    "IncompatibleMemoryError",
    "LangChainEmbeddings",
    "MemoryStoreError",
    "MiniLMEmbedder",
    "Provenance",
    "RLEMConfig",
    "ScoredRecord",
    "TextEmbedder",
    "Transition",
    "UpdatePlan",
    "UpdateReport",
    "combine",
    "discounted_returns",
    "exact_match",
    "lcs_ratio",
    "line_jaccard",
    "n_step_target",
    "plan_episode_update",
    "record_id",
    "token_jaccard",
]
