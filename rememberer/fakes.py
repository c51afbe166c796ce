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


class SlowModel(AdviceFollowingModel):
    """:class:`AdviceFollowingModel` that answers after ``latency`` seconds, like a remote
    endpoint: a synchronous call sleeps (holding its thread), an asynchronous one awaits (holding
    nothing). ``in_flight`` and ``peak`` count the calls under way (for concurrency checks)."""

    latency: float = 0.2
    in_flight: int = 0
    peak: int = 0

    def _enter(self) -> None:
        with _COUNT_LOCK:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)

    def _leave(self) -> None:
        with _COUNT_LOCK:
            self.in_flight -= 1

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        import time

        self._enter()
        try:
            time.sleep(self.latency)
            return super()._generate(messages, stop=stop, **kwargs)
        finally:
            self._leave()

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        import asyncio

        self._enter()
        try:
            await asyncio.sleep(self.latency)
            return super()._generate(messages, stop=stop, **kwargs)
        finally:
            self._leave()


_COUNT_LOCK = __import__("threading").Lock()


class BrokenModel(FakeListChatModel):
    """Raises a non-fatal error on every call."""

    def _call(self, *args, **kwargs):
        raise RuntimeError("model exploded")


FAKE_SPECS = {
    "fake:advice": "AdviceFollowingModel: follows the last exemplar's advice, else the first valid action",
    "fake:script:A|B|…": "answers A, then B, … in order, cycling (e.g. 'fake:script:move right -> 1.0 go')",
    "fake:slow[:SECONDS]": "SlowModel: fake:advice answering after SECONDS (default 0.2), like a remote endpoint",
    "scripted:p=P[,seed=S]": "ControlledPolicy: the top advised valid action with probability P, else a random valid one",
}


def from_spec(spec: str):
    """The fake model a ``fake:…`` model spec names (see :data:`FAKE_SPECS`)."""
    kind, _, rest = spec.partition(":")[2].partition(":")
    if kind == "advice":
        return AdviceFollowingModel(default=rest or None)
    if kind == "script" and rest:
        return scripted(*rest.split("|"))
    if kind == "slow":
        try:
            latency = float(rest) if rest else 0.2
        except ValueError:
            latency = float("nan")
        if not 0.0 <= latency <= 600.0:  # also NaN
            raise ValueError(f"bad latency in fake model spec {spec!r} (seconds in [0, 600])")
        return SlowModel(latency=latency)
    raise ValueError(f"unknown fake model spec {spec!r} (known: {', '.join(FAKE_SPECS)})")


class ControlledPolicy(GenericFakeChatModel):
    """The controlled policy of the transfer experiments: ``scripted:p=P[,seed=S]``.

    With probability ``p`` it takes the advised action — among the column-0 ``Encouraged:``
    lines of the exemplars, the one with the highest advised Q that is valid now (ties: the
    later, more similar exemplar) — otherwise, or when no advice applies, a uniformly random
    valid action; a free-text slot such as ``search[...]`` is filled with the task's first line.
    It separates what the memory contributes from what a model does: at
    ``p = 1`` success is the memory's alone, at ``p = 0`` it is the random baseline.
    Deterministic for a given seed and sequence of prompts.
    """

    p: float = 1.0
    seed: int = 0
    messages: object = iter(())
    _rng: object = None

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        import random

        from langchain_core.outputs import ChatGeneration, ChatResult

        if self._rng is None:
            self._rng = random.Random(self.seed)
        prompt = messages[-1].content
        head, _, new_input = prompt.rpartition("\nNow the new input:")
        available = re.findall(r"^- (.+)$", new_input.split("Available Actions:", 1)[-1].split("\n...", 1)[0], re.M)
        best: tuple[float, int, str] | None = None
        for order, (action, q) in enumerate(re.findall(r"^Encouraged:\n(\S.*?) -> ([0-9.]+)", head, re.M)):
            if action in available and (best is None or (float(q), order) >= best[:2]):
                best = (float(q), order, action)
        draw = self._rng.random()
        if best is not None and draw < self.p:
            answer = f"{best[2]} -> {best[0]:.1f} following the advice"
        elif available:
            answer = f"{self._rng.choice(available)} -> 0.1 exploring"
        else:
            answer = "(none) -> 0.0 nothing to do"
        if "[...]" in answer:  # a free-text slot (WebShop's search): the task's own words, the plainest query
            task = re.search(r"^Task: (.+)$", new_input, re.M)
            answer = answer.replace("[...]", f"[{task.group(1).strip() if task else 'anything'}]", 1)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])


def controlled_policy(spec: str) -> ControlledPolicy:
    """Parse ``scripted:p=0.9,seed=1`` (either part optional; p defaults to 1)."""
    options = dict(p=1.0, seed=0)
    body = spec.partition(":")[2]
    for part in filter(None, (x.strip() for x in body.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in options:
            raise ValueError(f"bad controlled-policy spec {spec!r}; use scripted:p=0.9[,seed=N]")
        try:
            options[key] = float(value) if key == "p" else int(value)
        except ValueError:
            raise ValueError(f"bad value {value!r} in {spec!r}") from None
    if not 0.0 <= options["p"] <= 1.0:
        raise ValueError(f"p must be in [0, 1] in {spec!r}")
    return ControlledPolicy(p=options["p"], seed=options["seed"])
