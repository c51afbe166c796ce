"""Command-line flags derived from the settings dataclasses (the one source of truth).

Every field of :class:`rememberer.runner.RunSettings` (which extends
:class:`rememberer.graph.context.AgentKnobs`) becomes a flag, with its description as help,
its ``Literal`` values as choices and its bounds checked when the settings object is built.
Booleans that default to True become ``--no-…``-style switches (``flag`` in the metadata
names them). A ``dict`` field (``task_options``) becomes a repeatable ``--flag KEY=VALUE``, and
its ``shortcuts`` metadata (``{"--pool": ("pool", help)}``) become flags that set one key; the
values are typed and checked against the chosen task set when the settings object is built.
Nothing here lists the knobs by hand.
"""

from __future__ import annotations

import argparse
import types
import typing
from dataclasses import MISSING, Field, fields
from typing import Any

from rememberer.graph.context import AgentKnobs, literal_choices

GROUPS = {
    "task and model": ("task_set", "model", "base_url", "api_key"),
    "memory and learning": ("memory_dir", "memory_url", "max_records", "namespace", "memory_keys", "prune_actions", "gamma", "update_mode", "learning_rate", "n_step", "random_advice",
                            "advice", "discourage", "aggregate_q", "exemplar_choice"),
    "output": ("runs_dir", "run_name", "save_prompts"),
    "scaling out": ("concurrency", "ray", "workers"),
    "task set options": ("task_options",),
}
"""Where a flag is listed in ``--help``; fields not named here go to 'protocol'."""


def flag_name(f: Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def _scalar(kind: Any) -> Any:
    """int, float or str for an annotation like ``int | None``."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1:
        kind = args[0]
    return kind if kind in (int, float, str) else str


def cli_fields(settings_cls: type, command: str) -> list[Field]:
    out = []
    for f in fields(settings_cls):
        if f.metadata.get("cli", True) is False:
            continue
        if "commands" in f.metadata and command not in f.metadata["commands"]:
            continue
        out.append(f)
    return out


def add_settings_arguments(parser: argparse.ArgumentParser, settings_cls: type, command: str,
                           defaults: dict[str, Any] | None = None) -> None:
    """One flag per settings field. Values left unset stay absent from the namespace
    (``argparse.SUPPRESS``), so the dataclass defaults, environment fallbacks and the
    command's own ``defaults`` apply in one place: :func:`settings_from_args`."""
    hints = typing.get_type_hints(settings_cls, include_extras=False)
    groups = {name: parser.add_argument_group(name) for name in (*GROUPS, "protocol")}
    group_of = {field_name: group for group, names in GROUPS.items() for field_name in names}
    defaults = defaults or {}
    for f in cli_fields(settings_cls, command):
        _add_field_argument(groups[group_of.get(f.name, "protocol")], f, hints[f.name], defaults)


def _add_field_argument(group: Any, f: Field, kind: Any, defaults: dict[str, Any]) -> None:
    default = defaults.get(f.name, f.default if f.default is not MISSING else None)
    help_text = f.metadata["description"]
    if f.metadata.get("env"):
        help_text += f" [env ${f.metadata['env']}]"
    if typing.get_origin(kind) is dict:
        add_mapping_arguments(group, f)
        return
    if kind is bool:
        action = "store_false" if f.default else "store_true"
        switch = f.metadata.get("switch_help", help_text)
        group.add_argument(flag_name(f), dest=f.name, action=action, default=argparse.SUPPRESS, help=switch)
        return
    choices = literal_choices(f)
    if default is not None and not f.metadata.get("secret"):
        help_text += f" (default: {default})"
    group.add_argument(
        flag_name(f), dest=f.name, default=argparse.SUPPRESS, metavar=None if choices else f.name.upper(),
        type=_scalar(kind) if not choices else None, choices=choices, help=help_text.replace("%", "%%"),
    )


def add_field_arguments(parser: Any, settings_cls: type, names: tuple[str, ...]) -> None:
    """The flags of a few settings fields only, exactly as ``run | train | eval`` have them (for
    commands that take a handful of knobs, like ``rememberer memory``); read them back with
    :func:`field_values`."""
    hints = typing.get_type_hints(settings_cls, include_extras=False)
    by_name = {f.name: f for f in fields(settings_cls)}
    for name in names:
        _add_field_argument(parser, by_name[name], hints[name], {})


def field_values(settings_cls: type, args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, Any]:
    """The values of the fields :func:`add_field_arguments` added: the flag, else the field's
    environment variable, else its default; checked like the settings object checks them
    (one-line ValueError naming the flag)."""
    from rememberer.graph.context import check_value, env_fallback

    by_name = {f.name: f for f in fields(settings_cls)}
    out = {}
    for name in names:
        f = by_name[name]
        value = getattr(args, name) if hasattr(args, name) else f.default
        value = env_fallback(f, value)
        check_value(f, value)
        out[name] = value
    return out


def add_mapping_arguments(parser: Any, f: Field) -> None:
    """``--flag KEY=VALUE`` (repeatable) for a dict field, and its one-key shortcut flags."""
    parser.add_argument(flag_name(f), dest=f.name, action="append", default=argparse.SUPPRESS, metavar="KEY=VALUE",
                        help=f.metadata["description"].replace("%", "%%"))
    for shortcut, (key, help_text) in f.metadata.get("shortcuts", {}).items():
        parser.add_argument(shortcut, dest=f"{f.name}:{key}", default=argparse.SUPPRESS, metavar=key.upper(),
                            help=f"{help_text}; same as {flag_name(f)} {key}=…".replace("%", "%%"))


def mapping_from_args(f: Field, args: argparse.Namespace, task_set: str) -> dict[str, str] | None:
    """The dict a ``--flag KEY=VALUE`` field was given (None: nothing given). A shortcut flag
    that the chosen task set has no option for is an error, not ignored."""
    from rememberer.tasks.options import task_options

    items = getattr(args, f.name, None)
    shortcuts = {flag: key for flag, (key, _) in f.metadata.get("shortcuts", {}).items() if hasattr(args, f"{f.name}:{key}")}
    if items is None and not shortcuts:
        return None
    out: dict[str, str] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag_name(f)} expects KEY=VALUE, got {item!r}")
        out[key.strip()] = value
    if shortcuts:
        known = task_options(task_set)
    for flag, key in shortcuts.items():
        if key not in known:
            have = f"its options: {', '.join(known)}" if known else "it takes no options"
            raise ValueError(f"{flag} does not apply to --task {task_set} ({have})")
        value = getattr(args, f"{f.name}:{key}")
        if key in out and out[key] != value:
            raise ValueError(f"{flag} {value} contradicts {flag_name(f)} {key}={out[key]}")
        out[key] = value
    return out


def settings_from_args(settings_cls: type, args: argparse.Namespace, command: str, **extra: Any):
    """Build the settings object from the flags given (absent flags keep the defaults).

    Raises ValueError (one line) for a bad value, before any work starts."""
    hints = typing.get_type_hints(settings_cls, include_extras=False)
    given = {}
    for f in cli_fields(settings_cls, command):
        if typing.get_origin(hints[f.name]) is dict:
            task_set = getattr(args, "task_set", None) or settings_cls.__dataclass_fields__["task_set"].default
            value = mapping_from_args(f, args, task_set)
            if value is not None:
                given[f.name] = value
        elif hasattr(args, f.name):
            given[f.name] = getattr(args, f.name)
    given.update(extra)
    return settings_cls(**given)


def given(args: argparse.Namespace, name: str) -> bool:
    """Whether a flag was given on the command line (not defaulted)."""
    return hasattr(args, name)


__all__ = ["AgentKnobs", "add_field_arguments", "add_mapping_arguments", "add_settings_arguments", "cli_fields", "field_values",
           "flag_name", "given", "mapping_from_args", "settings_from_args"]
