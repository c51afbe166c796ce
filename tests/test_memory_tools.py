"""``rememberer memory …``: read commands that never write, and edits that keep provenance."""

from __future__ import annotations

import json
import re
import time

import chromadb
import pytest

from rememberer.cli import main
from rememberer.memory import tools
from rememberer.memory.records import ActionValue, ExperienceRecord, Provenance
from rememberer.tasks import load_task_set


def _record(task, obs, actions, *, visits=1, runs=("run-a",), source="experience", age_days=0.0):
    stamp = time.time() - age_days * 86400
    return ExperienceRecord(task=task, observation=obs, visits=visits,
                            actions=[ActionValue(action=a, q=q, visits=n, reason=f"why {a}") for a, q, n in actions],
                            provenance=Provenance(source=source, run_ids=list(runs), created_at=stamp, updated_at=stamp))


@pytest.fixture
def filled(tmp_path, memory_factory):
    corridor = load_task_set("chain")
    memory = memory_factory(path=tmp_path / "mem", namespace="chain", observation_similarity=corridor.observation_similarity)
    memory.upsert([
        _record("Walk to the end of a corridor of 4 cells.", "You are in cell 1 of 4.", [("move right", 1.0, 3), ("wait", 0.0, 1)], visits=4),
        _record("Walk to the end of a corridor of 4 cells.", "you are in  cell 1 of 4.", [("move right", 0.5, 1)], runs=("run-b",)),
        _record("Walk to the end of a corridor of 6 cells.", "You are in cell 2 of 6.", [("move left", 0.1, 2)], runs=("run-b",), age_days=30),
        _record("Walk to the end of a corridor of 6 cells.", "You are in cell 5 of 6.", [("move right", 0.9, 1)], runs=("run-a", "run-b")),
        _record("Walk to the end of a corridor of 3 cells.", "You are in cell 1 of 3.", [("move right", 1.0, 1)], source="annotated", runs=("pool:x",), age_days=30),
    ])
    return tmp_path / "mem", memory


def cli(capsys, *argv):
    code = main(["memory", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def collections(path):
    return sorted(c if isinstance(c, str) else c.name for c in chromadb.PersistentClient(path=str(path)).list_collections())


def test_read_commands_never_create_anything(filled, tmp_path, capsys):
    path, _ = filled
    before = collections(path)
    code, _, err = cli(capsys, "stats", "--task", "textcraft", "--memory-dir", str(path))
    assert code == 2 and "no memory for 'textcraft.roles'" in err and "namespaces there: chain" in err and len(err.splitlines()) == 1
    assert err.strip().endswith("open it with --task chain")  # what to type instead
    assert collections(path) == before
    code, _, err = cli(capsys, "list", "--task", "chain", "--memory-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "no memory at" in err and not (tmp_path / "nowhere").exists()
    (tmp_path / "empty").mkdir()
    code, _, err = cli(capsys, "search", "x", "--task", "chain", "--memory-dir", str(tmp_path / "empty"))
    assert code == 2 and "no memory at" in err and not any((tmp_path / "empty").iterdir())


def test_stats_list_show_and_search_as_json(filled, capsys):
    path, memory = filled
    common = ["--task", "chain", "--memory-dir", str(path), "--json"]
    code, out, _ = cli(capsys, "stats", *common)
    stats = json.loads(out)
    assert code == 0 and stats["records"] == 5 and stats["pinned"] == 1 and sum(stats["q_histogram"]["counts"]) == 6
    code, out, _ = cli(capsys, "list", *common, "--sort", "visits", "--limit", "2")
    listed = json.loads(out)
    assert [r["visits"] for r in listed] == [4, 1] and listed[0]["max_q"] == 1.0
    code, out, _ = cli(capsys, "show", listed[0]["id"][:8], *common)
    assert json.loads(out)["observation"] == "You are in cell 1 of 4."
    code, out, _ = cli(capsys, "search", "corridor of 6 cells cell 5", *common, "-k", "2")
    hits = json.loads(out)
    assert hits[0]["observation"] == "You are in cell 5 of 6." and hits[0]["score"] >= hits[1]["score"]
    code, out, _ = cli(capsys, "list", "--task", "chain", "--memory-dir", str(path))
    assert code == 0 and "move right" in out and "corridor" in out


@pytest.mark.parametrize("columns", [80, 200])
def test_stats_table_and_q_bars_fit_the_terminal(filled, capsys, monkeypatch, columns):
    path, _ = filled
    monkeypatch.setenv("COLUMNS", str(columns))
    code, out, _ = cli(capsys, "stats", "--task", "chain", "--memory-dir", str(path))
    lines = out.splitlines()
    assert code == 0 and max(len(line.rstrip()) for line in lines) <= columns
    # one line per Q bin, each with its range, its count and a bar as long as the count allows
    bins = [re.match(r"^\s*(< 0\.1|0\.\d–0\.\d|≥ 0\.9)\s+(\d+)\s*(█*)\s*$", line) for line in lines]
    bins = [m for m in bins if m]
    assert [m[1] for m in bins] == ["< 0.1", *(f"0.{i}–0.{i + 1}" for i in range(1, 9)), "≥ 0.9"]
    counts = {m[1]: int(m[2]) for m in bins}
    assert counts == {**{m[1]: 0 for m in bins}, "< 0.1": 1, "0.1–0.2": 1, "0.5–0.6": 1, "≥ 0.9": 3}
    assert all(bool(m[3]) == (int(m[2]) > 0) for m in bins) and len(bins[-1][3]) > len(bins[0][3])
    code, out, _ = cli(capsys, "show", "--goal", "cell 1 of 4", "--limit", "1", "--task", "chain", "--memory-dir", str(path))
    assert code == 0 and max(len(line.rstrip()) for line in out.splitlines()) <= columns
    assert re.search(r"^created \d{4}-\d\d-\d\d \d\d:\d\d · updated \d{4}-\d\d-\d\d \d\d:\d\d$", out, re.M)


def test_edit_changes_q_and_keeps_provenance(filled, capsys):
    path, memory = filled
    rid = memory.get("Walk to the end of a corridor of 6 cells.", "You are in cell 2 of 6.").id
    code, _, _ = cli(capsys, "edit", rid[:8], "move left", "--q", "0.0", "--reason", "walls do not help",
                     "--editor", "ada", "--task", "chain", "--memory-dir", str(path))
    assert code == 0
    record = memory.get("Walk to the end of a corridor of 6 cells.", "You are in cell 2 of 6.")
    assert record.action("move left").q == 0.0 and record.action("move left").reason == "walls do not help"
    assert [e.split(":")[:2] for e in record.provenance.edits] == [["edit", "ada"]]
    assert record.provenance.run_ids == ["run-b"]  # an edit is provenance, not a run
    log = [json.loads(line) for line in (path / tools.EDIT_LOG).read_text().splitlines()]
    assert log[-1]["before"]["q"] == 0.1 and log[-1]["after"]["q"] == 0.0 and log[-1]["record_id"] == rid
    code, _, err = cli(capsys, "edit", rid[:8], "fly", "--q", "1", "--task", "chain", "--memory-dir", str(path))
    assert code == 2 and "has no action 'fly'" in err and "--add" in err


def test_delete_a_record_and_a_runs_contribution(filled, capsys):
    path, memory = filled
    code, out, _ = cli(capsys, "delete", "--run", "run-b", "--task", "chain", "--memory-dir", str(path), "--json")
    result = json.loads(out)
    assert code == 0 and result["deleted"] == 2 and result["kept_shared"] == 1  # the record run-a also wrote stays
    assert len(memory) == 3 and memory.get("Walk to the end of a corridor of 6 cells.", "You are in cell 5 of 6.")
    rid = memory.get("Walk to the end of a corridor of 3 cells.", "You are in cell 1 of 3.").id
    assert cli(capsys, "delete", rid, "--task", "chain", "--memory-dir", str(path))[0] == 0 and len(memory) == 2


def test_delete_by_run_counts_a_record_a_person_edited_as_that_runs(filled, capsys):
    path, memory = filled
    common = ["--task", "chain", "--memory-dir", str(path)]
    only_b = memory.get("Walk to the end of a corridor of 6 cells.", "You are in cell 2 of 6.")
    assert cli(capsys, "edit", only_b.id[:8], "move left", "--q", "0", "--editor", "ada", *common)[0] == 0
    code, out, _ = cli(capsys, "delete", "--run", "run-b", "--dry-run", *common, "--json")
    result = json.loads(out)
    # run-b alone produced two records; the edit of one of them does not make it shared
    assert code == 0 and result["deleted"] == 2 and result["edited"] == 1 and result["kept_shared"] == 1
    assert only_b.id in result["ids"] and len(memory) == 5  # a dry run
    edit_stamp = memory.get(only_b.task, only_b.observation).provenance.edits[0]
    code, _, err = cli(capsys, "delete", "--run", edit_stamp, *common)
    assert code == 2 and "is a hand edit, not a run" in err and len(memory) == 5
    code, out, _ = cli(capsys, "delete", "--run", "run-b", *common)
    assert code == 0 and "edited: 1" in out and memory.get(only_b.task, only_b.observation) is None


def test_records_from_before_the_edits_field_move_edit_stamps_out_of_the_runs():
    legacy = {"task": "t", "observation": "o", "provenance": {"run_ids": ["run-a", "edit:cli:20261201T000000Z"]}}
    record = ExperienceRecord.model_validate(legacy)
    assert record.provenance.run_ids == ["run-a"] and record.provenance.edits == ["edit:cli:20261201T000000Z"]
    assert ExperienceRecord.model_validate(json.loads(record.model_dump_json())) == record


def test_export_import_round_trip_is_all_or_nothing(filled, tmp_path, capsys, memory_factory):
    path, memory = filled
    out_file = tmp_path / "export.json"
    assert cli(capsys, "export", "--out", str(out_file), "--task", "chain", "--memory-dir", str(path))[0] == 0
    fresh = memory_factory(path=tmp_path / "fresh", namespace="chain")  # same embedder as the source
    report = tools.import_export(fresh, out_file)
    assert report == {"read": 5, "written": 5, "skipped_existing": 0}
    assert {r.id: r.model_dump() for r in fresh.records()} == {r.id: r.model_dump() for r in memory.records()}
    assert tools.import_export(fresh, out_file)["written"] == 0  # idempotent
    broken = json.loads(out_file.read_text())
    broken["records"][3]["actions"][0]["q"] = "high"
    bad_file = tmp_path / "bad.json"
    bad_file.write_text(json.dumps(broken))
    other = memory_factory(path=tmp_path / "other", namespace="chain")
    with pytest.raises(tools.MemoryStoreError, match="record 3 is invalid.*nothing imported"):
        tools.import_export(other, bad_file)
    assert len(other) == 0
    code, _, err = cli(capsys, "import", str(bad_file), "--task", "chain", "--memory-dir", str(tmp_path / "other"))
    assert code == 2 and "record 3 is invalid" in err and len(other) == 0


def test_prune_by_age_visits_and_value_keeps_pinned(filled, capsys):
    path, memory = filled
    code, out, _ = cli(capsys, "prune", "--older-than-days", "7", "--max-q", "0.5", "--dry-run", "--json",
                       "--task", "chain", "--memory-dir", str(path))
    assert json.loads(out)["deleted"] == 1 and len(memory) == 5  # dry run; the old annotated record is kept
    result = tools.prune(memory, max_visits=1)
    assert result["deleted"] == 3 and len(memory) == 2
    with pytest.raises(ValueError, match="at least one"):
        tools.prune(memory)


def test_dedup_merges_near_duplicate_keys_by_visit_weighted_mean(filled, capsys):
    path, memory = filled
    code, out, _ = cli(capsys, "dedup", "--json", "--task", "chain", "--memory-dir", str(path))
    result = json.loads(out)
    assert code == 0 and result["groups"] == 1 and result["merged_away"] == 1 and len(memory) == 4
    kept = memory.get("Walk to the end of a corridor of 4 cells.", "You are in cell 1 of 4.")
    right = kept.action("move right")
    assert right.visits == 4 and right.q == pytest.approx((1.0 * 3 + 0.5 * 1) / 4)
    assert kept.visits == 5 and set(kept.provenance.run_ids) == {"run-a", "run-b"}


def test_people_get_readable_reports_and_tables_that_fit_80_columns(filled, capsys, monkeypatch):
    path, _ = filled
    monkeypatch.setenv("COLUMNS", "80")
    common = ("--task", "chain", "--memory-dir", str(path))
    code, out, _ = cli(capsys, "prune", "--max-visits", "1", "--dry-run", *common)
    assert code == 0 and "{" not in out and "'" not in out
    assert out.startswith("dry run: nothing was changed") and any(line.startswith("ids: ") for line in out.splitlines())
    code, out, _ = cli(capsys, "search", "corridor of 6 cells cell 5", "-k", "2", *common)
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 0 and max(map(len, lines)) <= 80
    header = " ".join(lines[:2])
    assert all(word in header for word in ("id", "task", "observation", "Q", "updated", "score"))
    assert sum(bool(re.search(r"\b0\.\d{3}\s*$", line)) for line in lines) == 2  # each hit shows its score in full
