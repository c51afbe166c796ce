"""``rememberer memory … --memory-url``: every memory command against a ``chroma run`` server on
127.0.0.1; the read commands change nothing there."""

from __future__ import annotations

import json
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from rememberer.cli import main
from rememberer.memory import ExperienceMemory, HashingEmbedder
from test_memory_tools import _record
from test_server import chroma_server  # noqa: F401  (the fixture: a `chroma run` on loopback)

CORRIDOR_4 = "Walk to the end of a corridor of 4 cells."
CORRIDOR_6 = "Walk to the end of a corridor of 6 cells."


def _client(url: str):
    host, port = url.removeprefix("http://").split(":")
    return chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False))


def server_state(url: str) -> dict:
    """Everything a client can see on the server: collections, their metadata and every record."""
    client = _client(url)
    state = {}
    for c in client.list_collections():
        name = c if isinstance(c, str) else c.name
        collection = client.get_collection(name)
        got = collection.get(include=["metadatas", "documents", "embeddings"])
        state[name] = {"metadata": collection.metadata,
                       "records": {rid: (meta, doc, [round(float(x), 6) for x in emb])
                                   for rid, meta, doc, emb in zip(got["ids"], got["metadatas"], got["documents"], got["embeddings"])}}
    return state


@pytest.fixture
def served(chroma_server, tmp_path, monkeypatch):
    from rememberer.tasks import load_task_set

    monkeypatch.delenv("REMEMBERER_MEMORY_URL", raising=False)
    monkeypatch.delenv("REMEMBERER_MEMORY_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # a --memory-dir default must not appear here either
    memory = ExperienceMemory(url=chroma_server, namespace="chain", embedder=HashingEmbedder(128),
                              observation_similarity=load_task_set("chain").observation_similarity)
    memory.upsert([
        _record(CORRIDOR_4, "You are in cell 1 of 4.", [("move right", 1.0, 3), ("wait", 0.0, 1)], visits=4),
        _record(CORRIDOR_4, "you are in  cell 1 of 4.", [("move right", 0.5, 1)], runs=("run-b",)),
        _record(CORRIDOR_6, "You are in cell 2 of 6.", [("move left", 0.1, 2)], runs=("run-b",), age_days=30),
        _record(CORRIDOR_6, "You are in cell 5 of 6.", [("move right", 0.9, 1)], runs=("run-a", "run-b")),
        _record("Walk to the end of a corridor of 3 cells.", "You are in cell 1 of 3.", [("move right", 1.0, 1)],
                source="annotated", runs=("pool:x",), age_days=30),
    ])
    return chroma_server, memory


def cli(capsys, *argv):
    code = main(["memory", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_read_commands_on_a_server_read_it_and_write_nothing(served, tmp_path, capsys, monkeypatch):
    url, memory = served
    unused = tmp_path / "unused-dir"
    before = server_state(url)
    assert set(before) >= {"rememberer-chain"}
    common = ["--task", "chain", "--memory-url", url, "--memory-dir", str(unused), "--json"]
    code, out, err = cli(capsys, "stats", *common)
    stats = json.loads(out)
    assert code == 0, err
    assert stats["records"] == 5 and stats["pinned"] == 1 and stats["path"] == url
    code, out, _ = cli(capsys, "list", *common, "--sort", "visits", "--limit", "2")
    listed = json.loads(out)
    assert code == 0 and [r["visits"] for r in listed] == [4, 1]
    code, out, _ = cli(capsys, "show", listed[0]["id"][:8], *common)
    assert code == 0 and json.loads(out)["observation"] == "You are in cell 1 of 4."
    code, out, _ = cli(capsys, "search", "corridor of 6 cells cell 5", *common, "-k", "2")
    assert code == 0 and json.loads(out)[0]["observation"] == "You are in cell 5 of 6."
    export = tmp_path / "export.json"
    code, _, _ = cli(capsys, "export", "--out", str(export), *common)
    assert code == 0 and len(json.loads(export.read_text())["records"]) == 5
    # The environment variable chooses the server exactly like --memory-url (as for train/eval).
    monkeypatch.setenv("REMEMBERER_MEMORY_URL", url)
    code, out, _ = cli(capsys, "stats", "--task", "chain", "--json")
    assert code == 0 and json.loads(out)["records"] == 5
    code, _, err = cli(capsys, "list", "--task", "textcraft", "--json")  # another namespace: an error, nothing created
    assert code == 2 and "no memory for 'textcraft.roles'" in err and "namespaces there: chain" in err
    assert len(err.strip().splitlines()) == 1
    assert server_state(url) == before  # no collection, record, metadata or embedding changed
    assert not unused.exists() and not Path(".rememberer").exists()


def test_write_commands_on_a_server_change_it(served, tmp_path, capsys):
    url, memory = served
    common = ["--task", "chain", "--memory-url", url]
    rid = memory.get(CORRIDOR_6, "You are in cell 2 of 6.").id
    code, _, err = cli(capsys, "edit", rid[:8], "move left", "--q", "0.0", "--reason", "walls", "--editor", "ada", *common)
    assert code == 0, err
    edited = memory.get(CORRIDOR_6, "You are in cell 2 of 6.")
    assert edited.action("move left").q == 0.0 and any(r.startswith("edit:ada:") for r in edited.provenance.edits)
    code, out, _ = cli(capsys, "dedup", "--json", *common)
    assert code == 0 and json.loads(out)["merged_away"] == 1 and len(memory) == 4
    code, out, _ = cli(capsys, "prune", "--max-q", "0.0", "--json", *common)
    assert code == 0 and json.loads(out)["deleted"] == 1 and len(memory) == 3
    code, out, _ = cli(capsys, "delete", "--run", "run-b", "--dry-run", "--json", *common)
    assert code == 0 and json.loads(out)["kept_shared"] == 2 and len(memory) == 3  # both run-b records are shared now
    shared = memory.get(CORRIDOR_6, "You are in cell 5 of 6.").id
    code, out, _ = cli(capsys, "delete", shared, "--json", *common)
    assert code == 0 and json.loads(out)["deleted"] == 1 and len(memory) == 2
    export = tmp_path / "export.json"
    assert cli(capsys, "export", "--out", str(export), *common)[0] == 0
    code, out, err = cli(capsys, "import", str(export), "--namespace", "copy", "--json", *common)
    assert code == 2 and "holds namespace 'chain'" in err  # a namespace mismatch is refused, nothing written
    assert "rememberer-copy" not in server_state(url)
    code, out, err = cli(capsys, "delete", shared, "--json", *common)
    assert code == 2 and "no record" in err  # deleted above
    code, out, err = cli(capsys, "import", str(export), "--replace", "--json", *common)
    assert code == 0 and json.loads(out) == {"read": 2, "written": 2, "skipped_existing": 0}
    code, out, err = cli(capsys, "repair", *common)
    assert code == 0 and json.loads(out)["quarantined"] == 0
    assert {r.observation for r in memory.records()} == {"You are in cell 1 of 4.", "You are in cell 1 of 3."}
    assert not Path(".rememberer").exists()


def test_a_bad_memory_url_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.delenv("REMEMBERER_MEMORY_URL", raising=False)
    code, _, err = cli(capsys, "stats", "--task", "chain", "--memory-url", "ftp://127.0.0.1:1")
    assert code == 2 and "memory_url (--memory-url)" in err and len(err.strip().splitlines()) == 1
    monkeypatch.setenv("REMEMBERER_MEMORY_URL", "http://127.0.0.1:1")  # nothing listens there
    code, _, err = cli(capsys, "list", "--task", "chain")
    assert code == 2 and "cannot reach the memory server" in err and len(err.strip().splitlines()) == 1
