"""The memory on a Chroma server (``chroma run`` on 127.0.0.1): concurrent writers lose nothing."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rememberer.memory import Episode, ExperienceMemory, HashingEmbedder, InMemoryTable, RLEMConfig, Transition

# The size: 8 processes × 50 episodes (about 1.5 min on two busy cores).
# REMEMBERER_SERVER_WRITERS=4x12 runs a smaller one (the worker processes read it too).
WORKERS, EPISODES = (int(n) for n in os.environ.get("REMEMBERER_SERVER_WRITERS", "8x50").lower().split("x"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def chroma_server(tmp_path):
    binary = shutil.which("chroma", path=str(Path(sys.executable).parent)) or shutil.which("chroma")
    if binary is None:
        pytest.skip("the chroma CLI (chromadb package) is not installed")
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    # `timeout` bounds the server's life even if this test process dies.
    server = subprocess.Popen(["timeout", str(600 + 5 * WORKERS * EPISODES), binary, "run", "--host", "127.0.0.1", "--port", str(port),
                               "--path", str(tmp_path / "server-data")], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    import chromadb
    from chromadb.config import Settings

    deadline = time.monotonic() + 60
    while True:
        try:
            chromadb.HttpClient(host="127.0.0.1", port=port, settings=Settings(anonymized_telemetry=False)).heartbeat()
            break
        except Exception:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                pytest.fail(f"chroma server did not start: {(tmp_path / 'server.log').read_text()[-500:]}")
            time.sleep(0.3)
    try:
        yield url
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def episode(worker: int, j: int) -> Episode:
    """Overlapping keys across workers (3 tasks × a short corridor), so writers collide."""
    task = f"Goal: reach the end of corridor {j % 3}."
    length = 2 + (worker + j) % 3
    steps = []
    for t in range(length):
        action = "move right" if (worker * 7 + j * 3 + t) % 4 else "wait"
        reward = 1.0 if t == length - 1 and action == "move right" else 0.0
        steps.append(Transition(task, f"position {t}", action, reward, reason=f"w{worker}"))
    return Episode(f"w{worker}:e{j}", tuple(steps), final_observation="end", run_id=f"worker-{worker}")


def _worker(url: str, worker: int) -> None:
    memory = ExperienceMemory(url=url, namespace="shared", embedder=HashingEmbedder(32))
    for j in range(EPISODES):
        memory.apply_episode(episode(worker, j), RLEMConfig())
    for j in range(3):  # a retried write changes nothing
        assert memory.apply_episode(episode(worker, j), RLEMConfig()).records_written == 0


@pytest.mark.slow
def test_concurrent_writers_on_a_server_equal_a_sequential_replay(chroma_server):
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["rememberer.memory", "chromadb"])
    workers = [ctx.Process(target=_worker, args=(chroma_server, w)) for w in range(WORKERS)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(300 + 5 * WORKERS * EPISODES)
    assert [p.exitcode for p in workers] == [0] * WORKERS

    replay = InMemoryTable()
    for w in range(WORKERS):
        for j in range(EPISODES):
            replay.apply(episode(w, j), RLEMConfig())
    memory = ExperienceMemory(url=chroma_server, namespace="shared", embedder=HashingEmbedder(32))
    stored = {r.id: r for r in memory.records()}
    assert set(stored) == set(replay.records)
    for rid, expected in replay.records.items():
        got = stored[rid]
        assert got.visits == expected.visits
        assert {a.action: a.visits for a in got.actions} == {a.action: a.visits for a in expected.actions}
        for a in expected.actions:  # the mean of the same targets, summed in another order
            assert got.action(a.action).q == pytest.approx(a.q, abs=1e-9)
    total = sum(r.visits for r in stored.values())
    assert total == sum(len(episode(w, j).transitions) for w in range(WORKERS) for j in range(EPISODES))
    print(f"server: {WORKERS} processes x {EPISODES} episodes, {total} transitions, equal to the sequential replay")


def test_server_memory_is_chosen_by_environment_variable(chroma_server, monkeypatch, tmp_path):
    monkeypatch.setenv("REMEMBERER_MEMORY_URL", chroma_server)
    memory = ExperienceMemory(tmp_path / "ignored", namespace="env", embedder=HashingEmbedder(32))
    assert memory.path is None and memory.url == chroma_server
    memory.apply_episode(episode(0, 0), RLEMConfig())
    assert len(memory) == 2 and not (tmp_path / "ignored").exists()


def test_unreachable_server_is_a_clear_error(monkeypatch):
    from rememberer.memory import MemoryStoreError

    with pytest.raises(MemoryStoreError, match="cannot reach the memory server"):
        ExperienceMemory(url=f"http://127.0.0.1:{_free_port()}", embedder=HashingEmbedder(32))


def test_cli_train_with_memory_url_writes_to_the_server(chroma_server, tmp_path, monkeypatch):
    from rememberer.cli import main

    monkeypatch.delenv("REMEMBERER_MEMORY_URL", raising=False)
    argv = ["train", "--task", "chain", "--model", "fake:advice", "--memory-url", chroma_server, "--memory-dir",
            str(tmp_path / "unused"), "--runs-dir", str(tmp_path / "runs"), "--run-name", "srv", "--train-goals", "2",
            "--epochs", "1", "--concurrency", "2"]
    assert main(argv) == 0
    assert not (tmp_path / "unused").exists()
    import json

    config = json.loads((tmp_path / "runs" / "srv" / "config.json").read_text())
    assert config["memory"]["url"] == chroma_server and config["memory"]["path"] is None
    import chromadb
    from chromadb.config import Settings

    host, port = chroma_server.removeprefix("http://").split(":")
    client = chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False))
    assert client.get_collection("rememberer-chain").count() == 2 + 3  # corridor-3 and corridor-4 states


def test_a_warm_reader_on_the_server_sees_another_clients_write(chroma_server):
    reader = ExperienceMemory(url=chroma_server, namespace="gen", embedder=HashingEmbedder(32))
    writer = ExperienceMemory(url=chroma_server, namespace="gen", embedder=HashingEmbedder(32))
    assert reader.retrieve("t", "o", k=2) == []
    writer.apply_episode(Episode("a", (Transition("t", "o", "act", 0.0),), final_observation="end"), RLEMConfig())
    assert reader.retrieve("t", "o", k=2)[0].record.max_q == 0.0  # cached now
    writer.apply_episode(Episode("b", (Transition("t", "o", "act", 1.0),), final_observation="end"), RLEMConfig())
    assert reader.retrieve("t", "o", k=2)[0].record.max_q == pytest.approx(0.5)
    writer.apply_episode(Episode("c", (Transition("t", "o2", "act", 1.0),), final_observation="end"), RLEMConfig())
    assert {h.record.observation for h in reader.retrieve("t", "o", k=2)} == {"o", "o2"}
