"""Fake models at the model seam, one per scenario (langchain-core fakes underneath).

For tests, notebooks and demos that must run offline in seconds: inject one as
``AgentContext(model_instance=...)`` or ``Run(settings, model=...)``.
"""

from __future__ import annotations

import re

from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage


def scripted(*answers: str) -> FakeListChatModel:
    """Answers in order, cycling."""
    return FakeListChatModel(responses=list(answers))


class AdviceFollowingModel(GenericFakeChatModel):
    """Copies the encouraged action of the last exemplar when it is available now.

    This is what the tiny offline models do reliably (spec: 91% with same-state advice), so
    the learning loop can be tested deterministically. Without usable advice it picks the
    ``default`` action, or the first available one.
    """

    default: str | None = None
    messages: object = iter(())

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        from langchain_core.outputs import ChatGeneration, ChatResult

        prompt = messages[-1].content
        new_input = prompt.rsplit("\nNow the new input:", 1)[-1]
        available = re.findall(r"^- (.+)$", new_input.split("Available Actions:", 1)[-1].split("...", 1)[0], re.M)
        # Structure lives at column 0: advice is the line right after a column-0 "Encouraged:".
        advice = re.findall(r"^Encouraged:\n(\S.*?) -> ([0-9.]+)", prompt.rsplit("\nNow the new input:", 1)[0], re.M)
        answer = None
        if advice:
            action, q = advice[-1]
            if action in available or not available:
                answer = f"{action} -> {q} following the advice"
        if answer is None:
            choice = self.default if self.default in available or not available else available[0]
            answer = f"{choice} -> 0.5 no advice applies"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])


class BrokenModel(FakeListChatModel):
    """Raises a non-fatal error on every call."""

    def _call(self, *args, **kwargs):
        raise RuntimeError("model exploded")


FAKE_SPECS = {
    "fake:advice": "AdviceFollowingModel: follows the last exemplar's advice, else the first valid action",
    "fake:script:A|B|…": "answers A, then B, … in order, cycling (e.g. 'fake:script:move right -> 1.0 go')",
}


def from_spec(spec: str):
    """The fake model a ``fake:…`` model spec names (see :data:`FAKE_SPECS`)."""
    kind, _, rest = spec.partition(":")[2].partition(":")
    if kind == "advice":
        return AdviceFollowingModel(default=rest or None)
    if kind == "script" and rest:
        return scripted(*rest.split("|"))
    raise ValueError(f"unknown fake model spec {spec!r} (known: {', '.join(FAKE_SPECS)})")
