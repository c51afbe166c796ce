"""Retrieval at scale: the cached retrieve answers exactly what the uncached one did, and a
write anywhere (another object, another process, a server client) is seen at once."""

from __future__ import annotations

import multiprocessing
import random

import pytest

from rememberer.memory import Episode, ExperienceMemory, ExperienceRecord, HashingEmbedder, RLEMConfig, Transition, record_id
from rememberer.memory.similarity import combine, cosine_from_distance, token_jaccard


def reference_retrieve(memory: ExperienceMemory, task: str, observation: str, k: int):
    """The retrieval before the cache (count, ANN with metadata, same-task page, exact by id)."""
    collection = memory._collection
    total = collection.count()
    if total == 0 or k <= 0:
        return []
    hits = collection.query(query_embeddings=[memory.embed_task(task)], n_results=min(memory.candidate_pool, total),
                            include=["metadatas", "distances"])
    candidates = {rid: (cosine_from_distance(d), m) for rid, m, d in zip(hits["ids"][0], hits["metadatas"][0], hits["distances"][0])}
    same = collection.get(where={"task": task}, include=["metadatas"], limit=memory.same_task_limit)
    for rid, meta in zip(same["ids"], same["metadatas"]):
        candidates[rid] = (1.0, meta)
    exact = record_id(task, observation)
    if exact not in candidates:
        found = collection.get(ids=[exact], include=["metadatas"])
        for rid, meta in zip(found["ids"], found["metadatas"]):
            candidates[rid] = (1.0, meta)
    scored = []
    for rid, (task_sim, meta) in candidates.items():
        record = ExperienceRecord.from_json(meta["payload"], where=rid)
        obs_sim = float(memory.observation_similarity(observation, record.observation))
        task_sim = max(0.0, min(1.0, task_sim))
        scored.append((combine(task_sim, obs_sim, memory.task_weight), record))
    scored.sort(key=lambda s: (-s[0], -s[1].action_visits))
    return [(record.id, round(score, 12), record.visits, record.max_q) for score, record in scored[:k]]


def answer(memory, task, observation, k):
    return [(h.record.id, round(h.score, 12), h.record.visits, h.record.max_q) for h in memory.retrieve(task, observation, k=k)]


TASKS = [f"craft {item} number {n}" for item in ("oak slab", "iron bar", "glass pane") for n in range(4)]


def random_episode(rng: random.Random, e: int) -> Episode:
    task = TASKS[0] if rng.random() < 0.4 else rng.choice(TASKS)  # one hot task with many states
    steps = []
    for t in range(rng.randint(1, 4)):
        observation = f"inventory: {' '.join(sorted(rng.sample(['log', 'plank', 'stick', 'ore', 'sand', 'coal'], 2)))} {rng.randint(0, 9)}"
        steps.append(Transition(task, observation, rng.choice(["get log", "craft plank", "smelt ore"]), float(rng.random() < 0.3)))
    return Episode(f"e{e}", tuple(steps), final_observation="end", terminal=True)


def test_cached_retrieval_equals_the_uncached_one_through_writes_by_another_object(tmp_path):
    rng = random.Random(7)
    options = dict(namespace="cache", embedder=HashingEmbedder(32), observation_similarity=token_jaccard, candidate_pool=8)
    reader = ExperienceMemory(tmp_path / "m", **options)
    writer = ExperienceMemory(tmp_path / "m", **options)  # another object on the directory: the manifest tells
    reader.same_task_limit = writer.same_task_limit = 6  # the hot task outgrows its same-task page
    assert reader.retrieve(TASKS[0], "anything", k=5) == []
    compared = 0
    for e in range(60):
        writer.apply_episode(random_episode(rng, e), RLEMConfig())
        for _ in range(3):
            stored = rng.random() < 0.5
            if stored:
                record = rng.choice(list(reader.records()))
                task, observation = record.task, record.observation
            else:
                task, observation = rng.choice(TASKS), f"inventory: log plank {rng.randint(0, 9)}"
            for _ in range(2):  # cold, then warm
                assert answer(reader, task, observation, 6) == reference_retrieve(reader, task, observation, 6)
                compared += 1
            if stored:
                assert record.id in [rid for rid, *_ in answer(reader, task, observation, 6)]
    hot = sum(1 for r in reader.records() if r.task == TASKS[0])
    assert hot > reader.same_task_limit and compared == 360


def test_a_changed_record_is_seen_by_a_warm_reader(memory_factory):
    reader = memory_factory()
    writer = memory_factory()
    step = (Transition("craft x", "inv: -", "get y", 0.0),)
    writer.apply_episode(Episode("a", step, final_observation="end"), RLEMConfig())
    assert reader.retrieve("craft x", "inv: -", k=1)[0].record.max_q == 0.0  # now cached
    writer.apply_episode(Episode("b", (Transition("craft x", "inv: -", "get y", 1.0),), final_observation="end"), RLEMConfig())
    assert reader.retrieve("craft x", "inv: -", k=1)[0].record.max_q == pytest.approx(0.5)
    writer.delete("craft x", "inv: -")
    assert reader.retrieve("craft x", "inv: -", k=1) == []


def test_an_in_memory_store_sees_its_own_writes():
    memory = ExperienceMemory(None, namespace="eph", embedder=HashingEmbedder(16))
    assert memory.retrieve("t", "o", k=3) == []
    memory.apply_episode(Episode("a", (Transition("t", "o", "act", 1.0),), final_observation="end"), RLEMConfig())
    assert [h.record.observation for h in memory.retrieve("t", "o", k=3)] == ["o"]
    memory.apply_episode(Episode("b", (Transition("t", "o2", "act", 1.0),), final_observation="end"), RLEMConfig())
    assert {h.record.observation for h in memory.retrieve("t", "o", k=3)} == {"o", "o2"}


def _write_in_child(path: str) -> None:
    memory = ExperienceMemory(path, namespace="test", embedder=HashingEmbedder(128))
    memory.apply_episode(Episode("child", (Transition("craft x", "inv: -", "get y", 1.0),), final_observation="end"), RLEMConfig())


def test_a_write_by_another_process_is_seen_by_a_warm_reader(memory_factory, tmp_path):
    reader = memory_factory()
    reader.apply_episode(Episode("a", (Transition("craft x", "inv: -", "get y", 0.0),), final_observation="end"), RLEMConfig())
    assert reader.retrieve("craft x", "inv: -", k=1)[0].record.max_q == 0.0
    ctx = multiprocessing.get_context("forkserver")
    child = ctx.Process(target=_write_in_child, args=(str(tmp_path / "memory"),))
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert reader.retrieve("craft x", "inv: -", k=1)[0].record.max_q == pytest.approx(0.5)
