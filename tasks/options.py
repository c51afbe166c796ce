"""The options of each task set, read from its loader's signature (the one place they are declared).

``load_task_set(name, **options)`` passes options to the task set's own ``load_task_set``; the
keyword parameters of that function are the options, their annotations give the type a text
value (``--task-option KEY=VALUE``) is converted to, and the ``Args:`` section of its docstring
describes them. Nothing here lists options by hand.
"""

from __future__ import annotations

import importlib
import inspect
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import TaskError

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class TaskOption:
    name: str
    kind: type
    """bool, int, float or str: what a text value is converted to."""
    default: Any
    description: str = ""

    def convert(self, value: Any) -> Any:
        """The typed value of ``value`` (text from the command line, or already typed)."""
        if not isinstance(value, str) or self.kind is str:
            return str(value) if isinstance(value, Path) else value
        text = value.strip()
        if self.kind is bool:
            if text.lower() in TRUE:
                return True
            if text.lower() in FALSE:
                return False
            raise ValueError(f"task option {self.name} must be true or false, got {value!r}")
        try:
            return self.kind(text)
        except ValueError:
            raise ValueError(f"task option {self.name} must be {'an integer' if self.kind is int else 'a number'}, "
                             f"got {value!r}") from None


def _kind(annotation: Any) -> type:
    args = typing.get_args(annotation) if typing.get_origin(annotation) in (typing.Union, types.UnionType) else (annotation,)
    for kind in (bool, int, float):
        if kind in args:
            return kind
    return str


def _descriptions(doc: str | None) -> dict[str, str]:
    """``name: text`` entries of a Google-style ``Args:`` section (continuation lines joined)."""
    out: dict[str, str] = {}
    section = re.search(r"^Args:\s*\n(.*?)(?:\n\s*\n|\Z)", doc or "", re.S | re.M)
    if not section:
        return out
    current, indent = None, None
    for line in section.group(1).splitlines():
        depth = len(line) - len(line.lstrip())
        match = re.match(r"\s*(\w+)(?: \([^)]*\))?:\s*(.*)", line)
        if match and (indent is None or depth <= indent):
            current, indent = match.group(1), depth
            out[current] = match.group(2).strip()
        elif current:
            out[current] = f"{out[current]} {line.strip()}".strip()
    return {name: text.replace("``", "") for name, text in out.items()}


def task_options(name: str) -> dict[str, TaskOption]:
    """The options task set ``name`` accepts (imports its module, builds nothing)."""
    from . import TASK_SETS

    module_name = TASK_SETS.get(name)
    if module_name is None:
        raise TaskError(f"unknown task set {name!r}; known: {', '.join(sorted(TASK_SETS))}")
    factory = importlib.import_module(module_name).load_task_set
    hints = typing.get_type_hints(factory)
    docs = _descriptions(inspect.getdoc(factory))
    out = {}
    for parameter in inspect.signature(factory).parameters.values():
        if parameter.kind in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL):
            continue
        out[parameter.name] = TaskOption(
            parameter.name, _kind(hints.get(parameter.name, str)),
            None if parameter.default is inspect.Parameter.empty else parameter.default,
            docs.get(parameter.name, ""),
        )
    return out


def check_task_options(name: str, options: dict[str, Any], flag: str = "--task-option") -> dict[str, Any]:
    """``options`` converted to their declared types; an unknown key or a bad value is a
    one-line ValueError that names the flag and the options the task set has."""
    if not options:
        return {}
    known = task_options(name)
    out = {}
    for key, value in options.items():
        if key not in known:
            have = f"its options: {', '.join(known)}" if known else "it takes no options"
            raise ValueError(f"unknown task option {key!r} for task set {name!r} ({flag}; {have})")
        out[key] = None if value is None else known[key].convert(value)
    return out


__all__ = ["TaskOption", "check_task_options", "task_options"]
