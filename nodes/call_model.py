"""Node ``call_model``: ask the frozen LLM for ``Encouraged:`` lines.

On a retry (the previous answer did not parse) the prompt is extended with the bad answer
and a short correction. Endpoint failures that will not go away by retrying (connection,
authentication, unknown model) abort the run with :class:`ModelUnavailableError`; any
other model error is recorded and handled like malformed output.
"""

from __future__ import annotations

import asyncio
import time
from functools import lru_cache

from langgraph._internal._runnable import RunnableCallable
from langgraph.runtime import Runtime

from rememberer.graph.context import AgentContext, agent_context
from rememberer.graph.state import EpisodeState

from . import resources
from .models import ModelUnavailableError, answer_grammar, count_tokens, is_llamacpp
from .prompting import render_correction
from .ranking import rank_candidates

STOP = ["Discouraged"]
_FATAL = {"APIConnectionError", "ConnectError", "ConnectTimeout", "AuthenticationError", "NotFoundError", "PermissionDeniedError"}


@lru_cache(maxsize=256)
def _grammar(valid_actions: tuple[str, ...] | None) -> str:
    return answer_grammar(valid_actions)


def _text(output: object) -> str:
    content = getattr(output, "content", output)
    if isinstance(content, list):  # chat content blocks
        return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in content)
    return str(content)


def _ranked(state: EpisodeState, ctx: AgentContext, model, prompt: str, valid: list[str]) -> dict:
    """``rank`` decoding (see :mod:`.ranking`): the answer lists valid actions by score."""
    started = time.perf_counter()
    ranked = rank_candidates(model, prompt, valid, state.get("exemplars", []), ctx.advice_weight)
    # the text is the decision's log (scores and the advice followed); the candidates go to
    # ``parse`` as they are, so no diagnostic ever becomes a reason that memory keeps
    text = "\n".join(f"{c.action} -> {c.q:.4f} {note} {c.reason}".rstrip() for c, note in ranked[:5])
    candidates = [c for c, _ in ranked]
    return {
        "raw_outputs": [text],
        "candidates": candidates,
        "chosen": candidates[0],
        "ranked": True,
        "parse_error": None,
        "prompt_tokens": state.get("prompt_tokens", 0) + count_tokens(prompt, model),
        "completion_tokens": state.get("completion_tokens", 0),
        "model_seconds": state.get("model_seconds", 0.0) + time.perf_counter() - started,
    }


def _prepare(state: EpisodeState, ctx: AgentContext):
    """What one model call needs: (model, prompt, valid actions, earlier outputs, rank?, kwargs)."""
    model = resources.model(ctx)
    raw_outputs = list(state.get("raw_outputs", []))
    prompt = state["prompt"]
    if raw_outputs:
        tasks = resources.task_set(ctx)
        prompt = prompt + raw_outputs[-1].rstrip() + render_correction(state.get("parse_error") or "unusable answer", tasks.action_hint)
    valid = state.get("valid_actions")
    rank = (
        ctx.decoding in ("rank", "auto")
        and hasattr(model, "score_actions")
        and bool(valid)
        and not raw_outputs
        and not any(a.endswith("[...]") for a in valid)
    )
    kwargs: dict = {"stop": STOP}
    if is_llamacpp(model):
        kwargs["grammar"] = _grammar(tuple(valid) if valid else None)
    return model, prompt, valid, raw_outputs, rank, kwargs


def _failed(state: EpisodeState, raw_outputs: list[str], exc: Exception, started: float) -> dict:
    name = type(exc).__name__
    if name in _FATAL or "ConnectionError" in name:
        raise ModelUnavailableError(f"model endpoint failed ({name}): {exc}") from exc
    return {
        "raw_outputs": raw_outputs + [""],
        "parse_error": f"model error: {name}: {str(exc)[:200]}",
        "model_seconds": state.get("model_seconds", 0.0) + time.perf_counter() - started,
    }


def _answered(state: EpisodeState, model, prompt: str, raw_outputs: list[str], output: object, started: float) -> dict:
    elapsed = time.perf_counter() - started
    text = _text(output)
    usage = getattr(output, "usage_metadata", None) or {}
    prompt_tokens = usage.get("input_tokens") or count_tokens(prompt, model)
    completion_tokens = usage.get("output_tokens") or count_tokens(text, model)
    return {
        "raw_outputs": raw_outputs + [text],
        "parse_error": None,
        "prompt_tokens": state.get("prompt_tokens", 0) + prompt_tokens,
        "completion_tokens": state.get("completion_tokens", 0) + completion_tokens,
        "model_seconds": state.get("model_seconds", 0.0) + elapsed,
    }


def call_model(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    ctx = agent_context(runtime)
    model, prompt, valid, raw_outputs, rank, kwargs = _prepare(state, ctx)
    if rank:
        try:
            return _ranked(state, ctx, model, prompt, valid)
        except ValueError:
            pass  # the prompt leaves no room to score in the context window: generate instead
    started = time.perf_counter()
    try:
        output = model.invoke(prompt, **kwargs)
    except ModelUnavailableError:
        raise  # the embedded model crashed or timed out, or the endpoint is gone: stop the run
    except Exception as exc:
        return _failed(state, raw_outputs, exc, started)
    return _answered(state, model, prompt, raw_outputs, output, started)


async def acall_model(state: EpisodeState, runtime: Runtime[AgentContext]) -> dict:
    """The same node on an event loop (``ainvoke``, ``abatch``, ``astream``): the model is awaited
    (``model.ainvoke``: a remote endpoint waits without holding a thread), so concurrent episodes
    are not capped by the loop's executor, which runs the short synchronous nodes."""
    ctx = agent_context(runtime)
    model, prompt, valid, raw_outputs, rank, kwargs = _prepare(state, ctx)
    if rank:
        try:
            return await asyncio.to_thread(_ranked, state, ctx, model, prompt, valid)
        except ValueError:
            pass
    started = time.perf_counter()
    try:
        output = await model.ainvoke(prompt, **kwargs)
    except ModelUnavailableError:
        raise
    except Exception as exc:
        return _failed(state, raw_outputs, exc, started)
    return _answered(state, model, prompt, raw_outputs, output, started)


call_model_node = RunnableCallable(call_model, acall_model, name="call_model", trace=False)
"""``call_model`` with its async twin: what the graph registers."""
