"""Prompt templates (files in ``nodes/prompts/``) and the renderers that fill them.

Templates use :class:`string.Template` with ``substitute``: a missing variable fails loudly
instead of leaving a hole in the prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.resources import files
from string import Template

from rememberer.graph.state import Candidate


@cache
def template(name: str) -> Template:
    return Template(files("rememberer.nodes").joinpath("prompts", f"{name}.txt").read_text(encoding="utf-8"))


@cache
def advice_reasons() -> dict[str, str]:
    text = files("rememberer.nodes").joinpath("prompts", "reasons.txt").read_text(encoding="utf-8")
    pairs = (line.split("=", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in (text.splitlines() or [""]))


def render_input_block(
    *,
    task: str,
    observation: str,
    history: Sequence[str],
    history_length: int,
    feedback: str = "",
    context: str = "",
    valid_actions: Sequence[str] | None = None,
) -> str:
    """The YAML-like input block of the original prompts, for the new input and exemplars."""
    recent = list(history)[-history_length:] if history_length else []
    observed = observation if not feedback else f"{feedback}\n{observation}"
    actions_block = ""
    if valid_actions:
        actions_block = "Available Actions:\n" + "\n".join(f"- {a}" for a in valid_actions) + "\n"
    return template("input_block").substitute(
        task=task,
        context=f"{context.rstrip()}\n" if context else "",
        history_length=history_length,
        history="\n".join(f"- {a}" for a in recent) if recent else "- (none)",
        observation=_indent(observed),
        valid_actions=actions_block,
    ).rstrip()


def render_advice_line(candidate: Candidate) -> str:
    line = f"{candidate.action} -> {candidate.q:.1f}"
    return f"{line} {candidate.reason}" if candidate.reason else line


def render_exemplar(number: int, input_block: str, encouraged: Sequence[Candidate], discouraged: Sequence[Candidate]) -> str:
    return template("exemplar").substitute(
        number=number,
        input=input_block,
        encouraged="\n".join(render_advice_line(c) for c in encouraged),
        discouraged="\n".join(render_advice_line(c) for c in discouraged),
    ).rstrip()


def render_prompt(preamble: str, exemplar_texts: Sequence[str], input_block: str) -> str:
    if not exemplar_texts:
        return template("prompt_no_exemplars").substitute(preamble=preamble.strip(), input=input_block)
    return template("prompt").substitute(
        preamble=preamble.strip(), exemplars="\n\n".join(exemplar_texts), input=input_block
    )


def render_correction(error: str, action_hint: str) -> str:
    return template("correction").substitute(error=error, action_hint=action_hint or "a valid action")
