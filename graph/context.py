"""Run-time knobs of the agent, passed as LangGraph's ``context`` (``Runtime[AgentContext]``).

This module is the one source of truth for settings. :class:`AgentKnobs` declares every plain
knob once, with its type, default, description and bounds in the field's metadata; from it
come

* :class:`AgentContext` (the graph's context schema, what Studio shows),
* :class:`rememberer.runner.RunSettings` (the knobs plus the protocol of a run), and
* the command-line flags of ``rememberer run | train | eval`` (:mod:`rememberer.settings`).

Adding a field to :class:`AgentKnobs` adds the CLI flag, the run setting and the Studio
description at once. Field metadata keys: ``description`` (required), ``ge``/``gt``/``le``
(bounds, checked at construction, NaN rejected), ``flag`` (CLI name when it differs from
``--field-name``), ``cli`` (False: not a flag), ``commands`` (only these subcommands),
``switch_help`` (help of a boolean flag that flips the default), ``check`` (a function that
raises a one-line ValueError for a bad value, called at construction), ``secret`` (never written to run directories, not shown in Studio), ``hidden`` (not shown in
Studio), ``env`` (environment variable read when the value is left at its default).

The ``*_instance`` fields of :class:`AgentContext` are the injection seams: a runner or a test
passes a ready model, memory store, task set or session table, and the nodes use them instead
of building one from the plain values. They and ``api_key`` are hidden from Studio (keys come
from the environment).
"""

from __future__ import annotations

import math
import os
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any, Literal

from rememberer.tasks import TASK_SETS


def knob(default: Any, description: str, **meta: Any) -> Any:
    """A described settings field (``default_factory`` when ``default`` is a dict or list)."""
    meta["description"] = description
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def knob_label(f: Field) -> str:
    """How an error names a knob: the field and, where it has one, its CLI flag (``gamma (--gamma)``)."""
    if f.metadata.get("cli", True) is False:
        return f.name
    return f"{f.name} ({f.metadata.get('flag') or '--' + f.name.replace('_', '-')})"


def check_value(f: Field, value: Any) -> None:
    """Apply one field's declared bounds and check to ``value``; one-line ValueError naming the knob and its flag."""
    if value is not None and "check" in f.metadata:
        f.metadata["check"](knob_label(f), value)
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    name = knob_label(f)
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"{name} must be a number, got NaN")
    if "ge" in f.metadata and value < f.metadata["ge"]:
        raise ValueError(f"{name} must be ≥ {f.metadata['ge']}, got {value}")
    if "gt" in f.metadata and value <= f.metadata["gt"]:
        raise ValueError(f"{name} must be > {f.metadata['gt']}, got {value}")
    if "le" in f.metadata and value > f.metadata["le"]:
        raise ValueError(f"{name} must be ≤ {f.metadata['le']}, got {value}")


def check_fields(obj: Any) -> None:
    """Apply the declared bounds and checks of ``obj``'s fields; one-line ValueError naming the knob and its flag."""
    for f in fields(obj):
        check_value(f, getattr(obj, f.name))


def env_fallback(f: Field, value: Any) -> Any:
    """``value``, or the field's environment variable when ``value`` is the default and the variable is set."""
    env = f.metadata.get("env")
    if env and value == f.default and os.environ.get(env):
        return os.environ[env]
    return value


def apply_env(obj: Any) -> None:
    """Environment fallbacks (as in the LangGraph templates) for knobs left at their default."""
    for f in fields(obj):
        setattr(obj, f.name, env_fallback(f, getattr(obj, f.name)))


def check_memory_url(name: str, value: Any) -> None:
    """A Chroma server URL: ``http(s)://HOST[:PORT]`` (the store parses it the same way)."""
    from rememberer.memory.store import parse_memory_url

    try:
        parse_memory_url(str(value))
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


@dataclass(kw_only=True)
class AgentKnobs:
    """The plain knobs of one episode: everything the CLI, Studio and notebooks can set."""

    task_set: str = knob("textcraft", f"Task set name ({', '.join(TASK_SETS)}; `rememberer tasks` describes them).", flag="--task")
    model: str = knob(
        "local",
        "Model spec: 'local' (embedded llama.cpp Gemma-3-270M), 'local:/path/model.gguf', "
        "'openai:<model>' (chat) or 'openai-completion:<model>' for any OpenAI-compatible endpoint; "
        "'fake:advice' or 'fake:script:A|B' for scripted offline demos, 'scripted:p=0.9[,seed=N]' for the controlled policy.",
        env="REMEMBERER_MODEL",
    )
    base_url: str | None = knob(None, "OpenAI-compatible endpoint URL (else $OPENAI_BASE_URL).", env="OPENAI_BASE_URL")
    api_key: str | None = knob(None, "Key for the endpoint (else $OPENAI_API_KEY).", secret=True)
    memory_dir: str = knob(".rememberer/memory", "Chroma directory of the experience memory (shared across runs).",
                           env="REMEMBERER_MEMORY_DIR")
    memory_url: str | None = knob(
        None, "Chroma server (http://HOST:PORT, started with `chroma run`) that holds the memory instead of --memory-dir; "
        "processes and hosts can share it.", env="REMEMBERER_MEMORY_URL", check=check_memory_url)
    max_records: int = knob(5000, "Records the memory keeps; beyond that the least recently updated ones not annotated "
                            "are evicted.", ge=1)
    namespace: str | None = knob(None, "Memory namespace; defaults to the task set name, plus '.<scheme>' for goal-relative keys (textcraft.roles).")
    training: bool = knob(True, "Run the RLEM backup at episode end (False = frozen memory).", cli=False)
    use_memory: bool = knob(True, "Retrieve exemplars (False = no-memory baseline).", flag="--no-memory", commands=("eval",),
                           switch_help="baseline: no exemplars at all")
    top_m: int = knob(2, "Exemplars per prompt.", ge=0)
    token_budget: int = knob(1800, "Tokens allowed for the exemplars.", ge=0)
    history_length: int = knob(5, "Previous actions shown in each input block.", ge=0, flag="--history")
    max_steps: int | None = knob(None, "Step cap per episode (None = the task set's default).", ge=1)
    gamma: float = knob(1.0, "Discount factor γ in [0, 1] (1.0, as released).", ge=0.0, le=1.0)
    update_mode: Literal["mean", "const"] = knob("mean", "α = 1/N ('mean') or constant ('const').")
    learning_rate: float = knob(0.1, "α when update_mode='const'.", gt=0.0)
    n_step: int | None = knob(None, "None = Monte-Carlo return; n = n-step bootstrapping.", ge=1)
    memory_keys: Literal["goal-relative", "verbatim"] = knob(
        "goal-relative",
        "How experience is keyed. 'goal-relative': states and actions relative to the current goal, where the task set "
        "defines it (TextCraft: an item's role in the goal's recipe tree), so experience carries over to unseen goals; "
        "its own namespace '<task>.<scheme>'. 'verbatim': the environment's texts, the paper's configuration.",
        flag="--keys",
    )
    prune_actions: bool = knob(True, "Show the model only the valid actions the task's goal-relative keys call "
                               "relevant to the goal (TextCraft: on the goal's recipe tree; WebShop: no detail tabs, no "
                               "going back, only options the instruction names; ScienceWorld: at most 50, those on the goal's entities "
                               "and moving around first). On by default: it measured best with and "
                               "without memory (README, Results); no effect under verbatim keys.",
                               flag="--all-actions", switch_help="offer every valid action (the paper's configuration)")
    random_advice: bool = knob(True, "Random encouraged/discouraged actions when no Q is informative (paper default).",
                               flag="--no-random-advice", switch_help="ablation: no random advice")
    advice: Literal["q", "replay"] = knob(
        "q", "'q': advice from the learned Q values (RLEM); 'replay': plain experience replay, the action tried most "
        "in the remembered state shown at a flat 1.0 with nothing discouraged (ablation: without Q values).")
    discourage: bool = knob(True, "Show the discouraged (low-Q) actions of each exemplar.", flag="--no-discouraged",
                            switch_help="ablation: encouraged actions only")
    aggregate_q: bool = knob(False, "Advise from each action's Q averaged over the retrieved records that know it "
                             "(weighted by similarity) instead of the one record's own Q.")
    exemplar_choice: Literal["similar", "random"] = knob(
        "similar", "Exemplars by similarity to the current state (the paper) or drawn at random from memory (ablation).")
    decoding: Literal["auto", "generate", "rank"] = knob(
        "auto",
        "'generate': the model writes 'action -> Q' lines (the paper's protocol); 'rank': score the valid actions "
        "by log-probability + advice_weight × advised Q (in-process llama.cpp only); 'auto': rank for in-process "
        "llama.cpp models, generate for every other model.",
    )
    advice_weight: float = knob(5.0, "Weight of the advised Q in 'rank' decoding.", ge=0.0)
    prompt_layout: Literal["paper", "goal-first"] = knob(
        "paper",
        "Order of the prompt. 'paper': preamble, exemplars, then the new input with its goal and the task's context "
        "(the original). 'goal-first': the new input's goal and context come right after the preamble, before the "
        "exemplars, so the part that stays the same through an episode is a prefix and the embedded model's KV cache "
        "reuses it from step to step (fewer tokens evaluated per decision; measured in docs/results.md).",
    )
    temperature: float = knob(0.0, "Sampling temperature.", ge=0.0)
    max_tokens: int = knob(96, "Tokens the model may write per call.", gt=0)
    seed: int = knob(0, "Seed of the advice randomness and of the model.")
    task_options: dict[str, Any] = knob(
        {}, "An option of the task set's loader as KEY=VALUE, repeatable; `rememberer tasks` lists each task set's options "
        "(Studio: a JSON object such as {\"pool\": \"E1\"}).",
        flag="--task-option",
        shortcuts={"--pool": ("pool", "initial experience pool (WebShop: E0, E1, E2)"),
                   "--webshop-data": ("data_dir", "WebShop data directory (default: $REMEMBERER_WEBSHOP_DATA, else ../shared/data/webshop)")},
    )

    def __post_init__(self) -> None:
        from rememberer.tasks.options import check_task_options

        apply_env(self)
        check_fields(self)
        self.task_options = check_task_options(self.task_set, self.task_options or {})  # typed; unknown keys refused
        for f in fields(self):
            choices = literal_choices(f)
            if choices and getattr(self, f.name) not in choices:
                raise ValueError(f"{knob_label(f)} must be one of {', '.join(map(repr, choices))}, got {getattr(self, f.name)!r}")

    def plain(self) -> dict[str, Any]:
        """The JSON-able knobs (for run directories and logs): no secrets, no injected objects."""
        return {f.name: getattr(self, f.name) for f in fields(self) if not (f.metadata.get("secret") or f.metadata.get("hidden"))}


def literal_choices(f: Field) -> tuple[Any, ...] | None:
    """The allowed values of a ``Literal[...]`` field (annotations are strings here)."""
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", "")
    if isinstance(kind, str) and kind.startswith("Literal["):
        import ast

        return tuple(ast.literal_eval("(" + kind[len("Literal["):-1] + ",)"))
    return None


@dataclass(kw_only=True)
class AgentContext(AgentKnobs):
    """The graph's context schema: the knobs, the run id and the injection seams."""

    run_id: str = knob("adhoc", "Run id written into memory provenance.", cli=False)
    model_instance: Any = knob(None, "Injected LangChain model (tests, pipelines).", hidden=True, cli=False)
    memory_instance: Any = knob(None, "Injected ExperienceMemory.", hidden=True, cli=False)
    task_set_instance: Any = knob(None, "Injected TaskSet.", hidden=True, cli=False)
    sessions_instance: Any = knob(None, "Injected EnvironmentSessions.", hidden=True, cli=False)

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: Any) -> dict[str, Any]:
        """The schema Studio shows: no secrets, no injected instances, no unknown keys."""
        schema = handler.resolve_ref_schema(handler(core_schema))
        for f in fields(cls):
            if f.metadata.get("secret") or f.metadata.get("hidden"):
                schema.get("properties", {}).pop(f.name, None)
        schema["additionalProperties"] = False
        return schema

    @classmethod
    def from_knobs(cls, knobs: AgentKnobs, **extra: Any) -> "AgentContext":
        """The context for a settings object that extends :class:`AgentKnobs` (e.g. RunSettings)."""
        values = {f.name: getattr(knobs, f.name) for f in fields(AgentKnobs)}
        values.update(extra)
        return cls(**values)


_dataclass_init = AgentContext.__init__


def unknown_keys_message(unknown: list[str], known: list[str]) -> str:
    """One line naming the unknown keys, the closest known key for each typo, and every known key."""
    import difflib

    close = {key: match[0] for key in unknown if (match := difflib.get_close_matches(key, known, n=1, cutoff=0.75))}
    if len(unknown) == 1 and close:
        hint = f" (did you mean {close[unknown[0]]!r}?)"
    else:
        hint = f" (did you mean {', '.join(f'{k!r} → {v!r}' for k, v in close.items())}?)" if close else ""
    return f"unknown context key(s) {', '.join(map(repr, unknown))}{hint}; known keys: {', '.join(sorted(known))}"


def _checked_init(self: AgentContext, *args: Any, **kwargs: Any) -> None:
    """Unknown keys (a typo in Studio's context panel, a stale config) are an error, not ignored."""
    known = {f.name for f in fields(AgentContext)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        visible = sorted(f.name for f in fields(AgentContext) if not (f.metadata.get("hidden") or f.metadata.get("secret")))
        raise ValueError(unknown_keys_message(unknown, visible))
    _dataclass_init(self, *args, **kwargs)


AgentContext.__init__ = _checked_init  # type: ignore[method-assign]


def agent_context(runtime: Any) -> AgentContext:
    """The run's :class:`AgentContext` from a node's ``runtime``, or a clear error saying what to
    pass (a raw graph invoked without ``context=``, or hosted in a parent graph whose own
    context reaches it, would otherwise fail deep inside a node on ``None.run_id``)."""
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, AgentContext):
        return ctx
    if isinstance(ctx, dict):
        return AgentContext(**ctx)
    got = "no context" if ctx is None else f"a context of type {type(ctx).__name__}"
    raise ValueError(
        f"the rememberer graph needs an AgentContext and got {got}: pass "
        "graph.invoke({'goal_id': ...}, context=AgentContext(task_set=..., model=...)), or use "
        "rememberer.embedding.agent(context) / episode_runnable(context), which bind it once"
    )


def knob_fields() -> tuple[Field, ...]:
    return fields(AgentKnobs)


__all__ = ["AgentContext", "AgentKnobs", "MISSING", "agent_context", "check_fields", "check_value", "env_fallback", "knob", "knob_fields", "knob_label", "literal_choices"]
