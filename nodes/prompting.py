"""Prompt templates (files in ``nodes/prompts/``) and the renderers that fill them.

Templates use :class:`string.Template` with ``substitute``: a missing variable fails loudly
instead of leaving a hole in the prompt.

Untrusted text (the task, its context, observations, option values, actions, reasons: all of
it comes from environments, pools or the model) can never reach column 0 of a prompt, where
the structural markers live (``Example N:``, ``Encouraged:``, ``Discouraged:``, ``Now the new
input``): multi-line fields are indented by two spaces on every line (any Unicode line break
counts), and one-line fields (actions, option values, history entries, reasons) have their
line breaks folded into spaces. Observations are cut to :data:`OBSERVATION_BUDGET` characters
and reasons to :data:`REASON_BUDGET`, with the cut marked.
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


OBSERVATION_BUDGET = 6_000
"""Characters of an observation shown in a prompt (the rest is cut, and the cut marked)."""
CONTEXT_BUDGET = 6_000
"""Characters of a task's context shown in a prompt."""
TASK_BUDGET = 2_000
"""Characters of a task text shown in a prompt."""
REASON_BUDGET = 200
"""Characters of an advice reason shown in a prompt."""
ACTION_BUDGET = 300
"""Characters of one action or option value shown in a prompt."""


def truncate(text: str, budget: int) -> str:
    """``text`` cut to ``budget`` characters, the cut marked with how much was dropped."""
    if len(text) <= budget:
        return text
    return f"{text[:budget]} [… {len(text) - budget} characters cut]"


def one_line(text: str, budget: int = ACTION_BUDGET) -> str:
    """A field that must stay on one line: line breaks become spaces, length is capped."""
    return truncate(" ".join(text.splitlines()), budget) if text else ""


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(f"{prefix}{line}" for line in (text.splitlines() or [""]))


def _hanging(text: str) -> str:
    """First line as is (after a label), continuation lines indented: no line at column 0."""
    lines = text.splitlines() or [""]
    return "\n".join([lines[0], *(f"  {line}" for line in lines[1:])])


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
    observation = truncate(observation, OBSERVATION_BUDGET)
    observed = observation if not feedback else f"{truncate(feedback, REASON_BUDGET)}\n{observation}"
    actions_block = ""
    if valid_actions:
        actions_block = "Available Actions:\n" + "\n".join(f"- {one_line(a)}" for a in valid_actions) + "\n"
    return template("input_block").substitute(
        task=_shown_task(task),
        context=f"{_shown_context(context)}\n" if context else "",
        history_length=history_length,
        history="\n".join(f"- {one_line(a)}" for a in recent) if recent else "- (none)",
        observation=_indent(observed),
        valid_actions=actions_block,
    ).rstrip()


def render_advice_line(candidate: Candidate) -> str:
    line = f"{one_line(candidate.action)} -> {candidate.q:.1f}"
    reason = f"({candidate.key}) {candidate.reason}".strip() if candidate.key else candidate.reason
    return f"{line} {one_line(reason, REASON_BUDGET)}" if reason else line


def render_exemplar(number: int, input_block: str, encouraged: Sequence[Candidate], discouraged: Sequence[Candidate]) -> str:
    return template("exemplar").substitute(
        number=number,
        input=input_block,
        encouraged="\n".join(render_advice_line(c) for c in encouraged),
        discouraged="\n".join(render_advice_line(c) for c in discouraged),
    ).rstrip()


def render_prompt(preamble: str, exemplar_texts: Sequence[str], input_block: str, goal_block: str | None = None) -> str:
    """The whole prompt. With ``goal_block`` (layout 'goal-first') the new input's goal and context
    come before the exemplars and ``input_block`` should leave the context out; without exemplars
    the layouts are the same."""
    if not exemplar_texts:
        if goal_block is not None:
            raise ValueError("a goal-first prompt needs exemplars; render the input block with its context instead")
        return template("prompt_no_exemplars").substitute(preamble=preamble.strip(), input=input_block)
    exemplars = "\n\n".join(exemplar_texts)
    if goal_block is not None:
        return template("prompt_goal_first").substitute(
            preamble=preamble.strip(), goal=goal_block, exemplars=exemplars, input=input_block
        )
    return template("prompt").substitute(preamble=preamble.strip(), exemplars=exemplars, input=input_block)


def render_goal_block(task: str, context: str) -> str:
    """The new input's goal and the task's context, as the input block shows them (layout 'goal-first')."""
    return f"Task: {_shown_task(task)}" + (f"\n{_shown_context(context)}" if context else "")


def _shown_task(task: str) -> str:
    return _hanging(truncate(task, TASK_BUDGET))


def _shown_context(context: str) -> str:
    return _indent(truncate(context.rstrip(), CONTEXT_BUDGET))


def render_correction(error: str, action_hint: str) -> str:
    return template("correction").substitute(error=error, action_hint=action_hint or "a valid action")
