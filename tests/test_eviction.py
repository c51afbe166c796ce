"""Eviction by the index (cost ∝ records evicted) chooses exactly what the scan of every unpinned
record chose: least recently updated first, then fewer visits, then the larger id; pinned never."""

from __future__ import annotations

import multiprocessing
import random

import pytest

from rememberer.memory import Episode, ExperienceMemory, HashingEmbedder, RLEMConfig, Transition
from rememberer.memory.records import ActionValue, ExperienceRecord, Provenance
from test_server import chroma_server  # noqa: F401  (the fixture: a `chroma run` on loopback)


def record(state: int, t: float, visits: int, pinned: bool = False) -> ExperienceRecord:
    return ExperienceRecord(
        task=f"task {state % 4}", observation=f"state {state}", visits=visits,
        actions=[ActionValue(action="go", q=0.5, visits=visits, updated_at=t)],
        provenance=Provenance(source="annotated" if pinned else "experience", created_at=t, updated_at=t))


def operations(seed: int, n: int = 90):
    """Random writes: new and updated records, timestamps with ties and out of order (as an
    import of old records gives), pinned records, deletes, batches of several records."""
    rng = random.Random(seed)
    base = 1_700_000_000.0
    for _ in range(n):
        kind = rng.random()
        if kind < 0.08:
            yield "delete", rng.randrange(80)
            continue
        batch = {}
        for _ in range(rng.choice([1, 1, 2, 5])):
            state = rng.randrange(80)
            t = base + rng.choice([rng.randrange(40), rng.randrange(40) + rng.random(), 40 + len(batch) + rng.random() * 200])
            batch[state] = record(state, t, rng.randint(1, 3), pinned=rng.random() < 0.05)
        yield "upsert", list(batch.values())
        base += 1.0


def replay(memory: ExperienceMemory, seed: int) -> list[set[str]]:
    states = []
    for op, arg in operations(seed):
        if op == "delete":
            memory.delete(f"task {arg % 4}", f"state {arg}")
        else:
            memory.upsert(arg)
        states.append({r.id for r in memory.records()})
    return states


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_indexed_eviction_equals_the_scan(memory_factory, tmp_path, seed):
    indexed = memory_factory(path=tmp_path / "indexed", max_records=25, evict_slack=0.1)
    scanned = memory_factory(path=tmp_path / "scanned", max_records=25, evict_slack=0.1, eviction_index=False)
    got, want = replay(indexed, seed), replay(scanned, seed)
    assert len(got) == len(want)
    for step, (a, b) in enumerate(zip(got, want)):
        assert a == b, f"step {step}: the index evicted otherwise than the scan"
    assert max(map(len, got)) <= 25 and min(map(len, got[40:])) < 25  # it did evict, more than once
    report = indexed.eviction_index_report()
    assert report["built"] == 1 and report["unindexed"] == 0


def test_a_write_costs_one_index_write_and_leaves_only_the_last_writes_old_entries(memory_factory, tmp_path, monkeypatch):
    """Updating records writes the index once (the new entries, with the entries the previous
    write replaced); only the entries the last write replaced are left for the next one."""
    from rememberer.memory.eviction import EvictionIndex

    memory = memory_factory(path=tmp_path / "m", max_records=1000)
    memory.rebuild_eviction_index()
    saves = []
    real_save = EvictionIndex._save
    monkeypatch.setattr(EvictionIndex, "_save", lambda self, docs, gone: (saves.append(len(docs)), real_save(self, docs, gone)))
    hour = 3600.0  # every write in another bucket, so a replaced entry is not overwritten in place
    for n in range(6):
        memory.upsert([record(state, 1_700_000_000.0 + n * hour, n + 1) for state in (1, 2, 3)])
    assert len(saves) == 6
    report = memory.eviction_index_report()
    assert report["unindexed"] == 0 and report["stale"] == 3  # the last write's replaced entries only
    memory.upsert([record(9, 1_700_000_000.0 + 7 * hour, 1)])
    assert len(saves) == 7 and memory.eviction_index_report()["stale"] == 0


def test_a_store_without_the_index_is_indexed_at_its_first_eviction(memory_factory, tmp_path):
    legacy = memory_factory(path=tmp_path / "legacy", max_records=25, evict_slack=0.1, eviction_index=False)
    for op, arg in list(operations(5))[:30]:
        if op == "upsert":
            legacy.upsert(arg)
    assert legacy._index() is None  # as a store written before the index existed
    reference = memory_factory(path=tmp_path / "reference", max_records=25, evict_slack=0.1, eviction_index=False)
    reference.upsert(list(legacy.records()))
    reopened = memory_factory(path=tmp_path / "legacy", max_records=25, evict_slack=0.1)
    late = [record(1000 + i, 1_800_000_000.0 + i, 1) for i in range(12)]
    for memory in (reopened, reference):
        memory.max_records = len(memory)  # full: the next new records evict
        memory.upsert(late)
    assert {r.id for r in reopened.records()} == {r.id for r in reference.records()}
    assert reopened.eviction_index_report()["unindexed"] == 0


def test_entries_a_crash_left_behind_are_dropped_and_unknown_records_reindexed(memory_factory, tmp_path):
    memory = memory_factory(path=tmp_path / "m", max_records=100, evict_slack=0.1)
    memory.upsert([record(i, 1_700_000_000.0 + i, 1) for i in range(10)])
    memory._index().change(add={"not-a-record": 1.0, record(3, 0, 1).id: 5.0})  # a crash before the record write
    assert memory.eviction_index_report()["unindexed"] == 0
    memory.eviction_index = False  # writes by a version that does not keep the index
    memory.upsert([record(i, 1_600_000_000.0 + i, 1) for i in range(20, 23)])  # unindexed, and oldest of all
    memory.eviction_index = True
    assert memory.eviction_index_report()["unindexed"] == 3
    memory.max_records = 2  # must evict 12 of 14: more than the index knows, so everything is re-indexed first
    memory.upsert([record(50, 1_800_000_000.0, 1)])
    assert {r.observation for r in memory.records()} == {"state 9", "state 50"}
    report = memory.eviction_index_report()
    assert report["unindexed"] == 0 and report["entries"] == 2  # the crash's entries are gone too
    memory.eviction_index, memory.max_records = False, 100
    memory.upsert([record(60, 1_500_000_000.0, 1)])  # unindexed again, and the oldest
    memory.eviction_index = True
    assert memory.rebuild_eviction_index() == 3 and memory.eviction_index_report()["unindexed"] == 0
    memory.max_records = 3
    memory.upsert([record(61, 1_800_000_001.0, 1)])
    assert "state 60" not in {r.observation for r in memory.records()}


def _writer(path: str, worker: int) -> None:
    memory = ExperienceMemory(path, namespace="test", embedder=HashingEmbedder(128), max_records=30, evict_slack=0.1)
    for j in range(15):
        steps = tuple(Transition(f"task {worker}", f"w{worker} e{j} s{t}", "go", 1.0 if t == 2 else 0.0) for t in range(3))
        memory.apply_episode(Episode(f"w{worker}:{j}", steps, final_observation="end"), RLEMConfig())


@pytest.mark.slow
def test_concurrent_writers_keep_the_cap_and_the_index(tmp_path):
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["rememberer.memory", "chromadb"])
    ExperienceMemory(tmp_path / "m", namespace="test", embedder=HashingEmbedder(128))  # created once, before the race
    workers = [ctx.Process(target=_writer, args=(str(tmp_path / "m"), w)) for w in range(3)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(300)
    assert [p.exitcode for p in workers] == [0, 0, 0]
    memory = ExperienceMemory(tmp_path / "m", namespace="test", embedder=HashingEmbedder(128), max_records=30)
    assert 0 < len(memory) <= 30
    assert memory.eviction_index_report()["unindexed"] == 0
    total = 0  # every write adds 3 new keys, so the count after 45 writes does not depend on their order
    for _ in range(45):
        overflow = total + 3 - 30
        total -= overflow + 7 if overflow > 0 else 0  # the overflow and the slack, min(max(3, 64), 30 // 4) = 7
        total += 3
    assert len(memory) == total


def test_indexed_eviction_on_a_server_equals_the_scan(chroma_server):
    made = {}
    for name, flag in (("indexed", True), ("scanned", False)):
        made[name] = ExperienceMemory(url=chroma_server, namespace=name, embedder=HashingEmbedder(32), max_records=25,
                                      evict_slack=0.1, eviction_index=flag)
    got, want = replay(made["indexed"], 3), replay(made["scanned"], 3)
    assert [{s.split(":")[-1] for s in a} for a in got] == [{s.split(":")[-1] for s in b} for b in want]
    assert made["indexed"].eviction_index_report()["unindexed"] == 0
