"""Nothing non-finite, oversized or malformed enters memory; corruption is reported, never hidden."""

from __future__ import annotations

import json

import pytest

from rememberer.cli import main
from rememberer.memory import (
    CorruptMemoryError,
    Episode,
    ExperienceMemory,
    InvalidRecordError,
    MemoryReader,
    RLEMConfig,
    Transition,
    record_id,
)
from rememberer.memory.manifest import MANIFEST_NAME


def one_step(eid, obs="o", reward=1.0, reason="r", task="t", action="a"):
    return Episode(eid, (Transition(task, obs, action, reward, reason=reason),), final_observation="end")


@pytest.mark.parametrize("reward", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_reward_is_refused_whole(memory_factory, reward):
    memory = memory_factory()
    memory.apply_episode(one_step("ok"), RLEMConfig())
    bad = Episode("bad", (Transition("t", "o2", "a", 0.0), Transition("t", "o3", "a", reward)), final_observation="x")
    with pytest.raises(InvalidRecordError, match=r"step 1 reward = "):
        memory.apply_episode(bad, RLEMConfig())
    assert len(memory) == 1 and memory.stats()["records"] == 1


def _pool(tmp_path, **overrides):
    action = {"action": "go", "q": 1.0, "reason": "r"}
    record = {"task": "t", "observation": "o", "actions": [action]}
    for key, value in overrides.items():
        (action if key in ("q", "action", "reason", "mean_reward") else record)[key] = value
    good = {"task": "t", "observation": "fine", "actions": [{"action": "go", "q": 0.5}]}
    path = tmp_path / "pool.json"
    # json.dumps writes NaN/Infinity literals, which Python's json (and the pool reader) accept.
    path.write_text(json.dumps({"format": "rememberer-pool/1", "records": [good, record]}))
    return path


@pytest.mark.parametrize(
    "override, named",
    [
        ({"q": float("nan")}, "q = nan"),
        ({"q": 1e400}, "q = inf"),
        ({"visits": -7}, "visits = -7"),
        ({"observation": "x" * 5_000_000}, "observation = 'xxx"),
        ({"reason": "y" * 5_000_000}, "reason = 'yyy"),
        ({"action": "z" * 5_000}, "action = 'zzz"),
        ({"task": "t" * 10_000}, "task = 'ttt"),
    ],
)
def test_pool_import_refuses_bad_values_whole_and_names_them(memory_factory, tmp_path, override, named):
    memory = memory_factory()
    with pytest.raises(InvalidRecordError) as info:
        memory.import_pool(_pool(tmp_path, **override))
    message = str(info.value)
    assert named in message and "record 1" in message and len(message) < 400
    assert len(memory) == 0  # the good record in the same pool was not written either


def test_upsert_and_edits_are_validated(memory_factory):
    memory = memory_factory()
    memory.apply_episode(one_step("e1"), RLEMConfig())
    record = memory.get("t", "o")
    record.actions[0].q = float("nan")
    other = record.model_copy(deep=True)
    other.observation, other.actions[0].q = "o2", 0.5
    with pytest.raises(InvalidRecordError, match="actions.0.q = nan"):
        memory.upsert([other, record])
    assert len(memory) == 1 and memory.get("t", "o").actions[0].q == 1.0


def test_lone_surrogates_cannot_abort_a_backup(memory_factory):
    memory = memory_factory()
    report = memory.apply_episode(one_step("e1", obs="inv \ud800", reason="because \udfff", action="go \ud800"), RLEMConfig())
    assert report.records_written == 1
    record = memory.get("t", "inv \ud800")  # the same key finds the cleaned record
    assert record.observation == "inv \ufffd" and record.actions[0].reason == "because \ufffd"
    assert memory.stats()["records"] == 1


def test_long_reasons_are_capped_not_refused(memory_factory):
    memory = memory_factory()
    memory.apply_episode(one_step("e1", reason="why " * 5_000), RLEMConfig())
    assert len(memory.get("t", "o").actions[0].reason) == 1_000


def test_zero_byte_database_is_corrupt_not_a_new_memory(memory_factory, tmp_path):
    memory = memory_factory()
    memory.apply_episode(one_step("e1"), RLEMConfig())
    del memory
    sqlite = tmp_path / "memory" / "chroma.sqlite3"
    sqlite.write_bytes(b"")
    with pytest.raises(CorruptMemoryError, match="0 bytes"):
        memory_factory()
    assert sqlite.stat().st_size == 0  # nothing was recreated
    with pytest.raises(CorruptMemoryError):
        MemoryReader(tmp_path / "memory", namespace="test")


def test_emptied_directory_with_manifest_is_corrupt(memory_factory, tmp_path):
    memory = memory_factory()
    memory.apply_episode(one_step("e1"), RLEMConfig())
    del memory
    directory = tmp_path / "memory"
    manifest = json.loads((directory / MANIFEST_NAME).read_text())
    assert list(manifest["collections"].values())[0]["records"] == 1
    for child in directory.iterdir():
        if child.name != MANIFEST_NAME:
            if child.is_dir():
                for f in child.iterdir():
                    f.unlink()
                child.rmdir()
            else:
                child.unlink()
    with pytest.raises(CorruptMemoryError, match="manifest lists 1 records"):
        memory_factory()
    assert sorted(p.name for p in directory.iterdir()) == [MANIFEST_NAME]


def test_read_only_commands_never_touch_a_file(tmp_path, hashing_embedder, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    directory = tmp_path / "memory"
    memory = ExperienceMemory(directory, namespace="chain", embedder=hashing_embedder)
    memory.apply_episode(one_step("e1", task="Goal: x"), RLEMConfig())
    del memory

    def snapshot():
        return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in directory.rglob("*")}

    before = snapshot()
    assert main(["memory", "stats", "--task", "chain", "--memory-dir", str(directory), "--json"]) == 0
    assert '"records": 1' in capsys.readouterr().out
    assert main(["memory", "show", "--task", "chain", "--memory-dir", str(directory)]) == 0
    assert main(["memory", "list", "--task", "chain", "--memory-dir", str(directory)]) == 0
    assert main(["memory", "export", "--task", "chain", "--memory-dir", str(directory), "--out", str(tmp_path / "x.json")]) == 0
    assert snapshot() == before
    # A missing memory is an error for a read-only command, and nothing is created.
    assert main(["memory", "stats", "--task", "chain", "--memory-dir", str(tmp_path / "empty-dir")]) == 2
    assert not (tmp_path / "empty-dir").exists()


def test_one_bad_record_is_skipped_reported_and_repaired(memory_factory, tmp_path, capsys):
    memory = memory_factory()
    for i in range(3):
        memory.apply_episode(one_step(f"e{i}", obs=f"o{i}"), RLEMConfig())
    bad = record_id("t", "o1")
    memory._collection.update(ids=[bad], metadatas=[{"payload": "{not json"}])
    assert {r.observation for r in memory.records()} == {"o0", "o2"}
    assert bad in memory.skipped and memory.stats()["skipped_corrupt"] == 1
    assert [h.record.observation for h in memory.retrieve("t", "o2", k=5)][0] == "o2"
    reader = MemoryReader(tmp_path / "memory", namespace="test")
    assert reader.stats()["records"] == 2 and list(reader.skipped) == [bad]
    assert reader.export(tmp_path / "export.json") == 2
    memory.apply_episode(one_step("e9", obs="o2"), RLEMConfig())  # other keys still learn
    report = memory.repair()
    assert report["quarantined"] == 1 and report["ids"] == [bad]
    quarantined = [json.loads(line) for line in open(report["file"], encoding="utf-8")]
    assert quarantined[0]["metadata"]["payload"] == "{not json"
    assert memory.get("t", "o1") is None and len(memory) == 2 and not memory.skipped
    assert memory.repair()["quarantined"] == 0


def test_similar_namespaces_do_not_share_a_collection(tmp_path, hashing_embedder):
    a = ExperienceMemory(tmp_path / "m", namespace="my task", embedder=hashing_embedder)
    b = ExperienceMemory(tmp_path / "m", namespace="my-task", embedder=hashing_embedder)
    a.apply_episode(one_step("e1"), RLEMConfig())
    assert len(a) == 1 and len(b) == 0
    assert a.collection_name != b.collection_name


def test_exact_state_never_drops_out_of_a_large_task(memory_factory):
    memory = memory_factory(candidate_pool=4)
    memory.same_task_limit = 5  # stands for Chroma's 1,000-row page at scale
    steps = [Transition("one task", f"state {i}", f"act {i}", 1.0) for i in range(40)]
    memory.apply_episode(Episode("long", tuple(steps), final_observation="end"), RLEMConfig())
    for i in (0, 17, 39):
        assert memory.retrieve("one task", f"state {i}", k=1)[0].record.observation == f"state {i}"


def test_eviction_frees_a_slack_batch_and_pages(memory_factory):
    memory = memory_factory(max_records=20, evict_slack=0.25)
    for i in range(20):
        memory.apply_episode(one_step(f"e{i}", obs=f"s{i:02d}"), RLEMConfig())
    report = memory.apply_episode(one_step("new", obs="new"), RLEMConfig())
    assert report.evicted == 6  # the one needed + 25% of 20 (so the next 5 writes scan nothing)
    kept = {r.observation for r in memory.records()}
    assert "new" in kept and not ({f"s{i:02d}" for i in range(6)} & kept) and len(memory) == 15
    for i in range(5):
        assert memory.apply_episode(one_step(f"n{i}", obs=f"n{i}"), RLEMConfig()).evicted == 0



def test_one_eviction_frees_at_most_the_slack_bound(memory_factory, monkeypatch):
    # On a large capacity 1 % is thousands of records, and one backup paid for all of them at
    # once (18-19 s at 1M); the bound (here lowered to 2) keeps each eviction short.
    from rememberer.memory import store

    monkeypatch.setattr(store, "EVICT_SLACK_MAX", 2)
    memory = memory_factory(max_records=20, evict_slack=0.25)
    for i in range(20):
        memory.apply_episode(one_step(f"e{i}", obs=f"s{i:02d}"), RLEMConfig())
    assert memory.apply_episode(one_step("new", obs="new"), RLEMConfig()).evicted == 3  # 1 needed + 2
    assert len(memory) == 18 and "s03" in {r.observation for r in memory.records()}
    assert [memory.apply_episode(one_step(f"n{i}", obs=f"n{i}"), RLEMConfig()).evicted for i in range(3)] == [0, 0, 1 + 2]
