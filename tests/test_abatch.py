"""Concurrent episodes in one process on an event loop: ``abatch`` is not capped at the
executor's 6 threads (two cores) any more, neither for a remote-like model (awaited) nor for
a model that is only synchronous (the embedded one), and the memory ends as after a replay.

No clock in any assertion: a barrier model holds each call until 16 are under way at once
(or gives up after a patience), and the test reads the peak."""

from __future__ import annotations

import asyncio
import time

import pytest

from rememberer.fakes import AdviceFollowingModel, SlowModel
from rememberer.graph import AgentContext, abatch_episodes, batch_episodes, graph, recursion_limit
from rememberer.memory import ExperienceMemory, HashingEmbedder
from rememberer.tasks import load_task_set

EPISODES = 16


class BarrierModel(SlowModel):
    """Every call waits until ``expected`` calls are in flight together, or ``patience`` s passed."""

    expected: int = EPISODES
    patience: float = 20.0
    sync_only: bool = False

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        self._enter()
        try:
            deadline = time.monotonic() + self.patience
            while self.peak < self.expected and time.monotonic() < deadline:
                time.sleep(0.005)
            return AdviceFollowingModel._generate(self, messages, stop=stop, **kwargs)
        finally:
            self._leave()

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs):
        if self.sync_only:  # what LangChain does for a model without an async path
            return await asyncio.get_running_loop().run_in_executor(None, lambda: self._generate(messages, stop=stop))
        self._enter()
        try:
            deadline = time.monotonic() + self.patience
            while self.peak < self.expected and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            return AdviceFollowingModel._generate(self, messages, stop=stop, **kwargs)
        finally:
            self._leave()


def _setup(model):
    tasks = load_task_set("chain")
    memory = ExperienceMemory(None, namespace="chain", embedder=HashingEmbedder(32),
                              observation_similarity=tasks.observation_similarity)
    context = AgentContext(task_set="chain", model_instance=model, memory_instance=memory, task_set_instance=tasks, max_steps=6)
    inputs = [{"goal_id": "corridor-3", "episode_id": f"e{i}"} for i in range(EPISODES)]
    return context, memory, inputs


def _check(states, memory) -> None:
    assert all(s["success"] for s in states)
    assert {r.observation: r.visits for r in memory.records()} == {"You are in cell 1 of 3.": EPISODES, "You are in cell 2 of 3.": EPISODES}
    assert all(r.action("move right").q == pytest.approx(1.0) for r in memory.records())


def test_batch_episodes_has_16_model_calls_under_way_at_once():
    model = BarrierModel()
    context, memory, inputs = _setup(model)
    states = batch_episodes(graph, inputs, context=context, concurrency=EPISODES, config={"recursion_limit": recursion_limit(6)})
    assert model.peak == EPISODES
    _check(states, memory)


def test_plain_abatch_awaits_a_remote_like_model_without_an_executor_thread():
    """The default executor has 6 threads here at most (2 cores): without the async node, 6
    synchronous model calls would be the peak."""
    model = BarrierModel()
    context, memory, inputs = _setup(model)

    async def main():
        return await graph.abatch(inputs, {"recursion_limit": recursion_limit(6), "max_concurrency": EPISODES}, context=context)

    states = asyncio.run(main())
    assert model.peak == EPISODES
    _check(states, memory)


def test_a_synchronous_only_model_gets_a_thread_per_episode():
    model = BarrierModel(sync_only=True)
    context, memory, inputs = _setup(model)

    async def main():
        loop = asyncio.get_running_loop()
        from concurrent.futures import ThreadPoolExecutor

        loop.set_default_executor(ThreadPoolExecutor(max_workers=6))  # what two cores give by default
        return await abatch_episodes(graph, inputs, context=context, concurrency=EPISODES,
                                     config={"recursion_limit": recursion_limit(6)})

    states = asyncio.run(main())
    assert model.peak == EPISODES
    _check(states, memory)


def test_concurrency_is_bounded():
    model = BarrierModel(expected=EPISODES, patience=0.5)
    context, _, inputs = _setup(model)
    batch_episodes(graph, inputs, context=context, concurrency=4, config={"recursion_limit": recursion_limit(6)})
    assert model.peak == 4
    with pytest.raises(ValueError, match="concurrency must be ≥ 1"):
        batch_episodes(graph, inputs, context=context, concurrency=0)
