"""Ray rollouts: workers on a local 2-CPU Ray instance share one Chroma server (127.0.0.1);
the memory they leave equals a sequential run's, and every episode is committed once."""

from __future__ import annotations

import json

import pytest

from test_server import chroma_server  # noqa: F401  (the fixture: a `chroma run` on loopback)

ray = pytest.importorskip("ray")

from rememberer.cli import main  # noqa: E402
from rememberer.memory import ExperienceMemory  # noqa: E402
from rememberer.runner import Run, RunSettings  # noqa: E402

GOALS = ["corridor-3", "corridor-4", "corridor-5"]
MODEL = "fake:script:move right -> 1.0 go|wait -> 0.2 rest|move right -> 0.9 go"


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def _settings(tmp_path, name: str, **extra) -> RunSettings:
    values = dict(task_set="chain", model=MODEL, runs_dir=str(tmp_path / "runs"), run_name=name, max_steps=8,
                  gamma=0.9, train_goals=len(GOALS), epochs=2, test_goals=0, drop_solved=False)
    return RunSettings(**{**values, **extra})


def _table(records) -> dict:
    return {r.id: (r.visits, {a.action: (a.visits, round(a.q, 9)) for a in r.actions}) for r in records}


def replay(run_dir) -> dict:
    """The training episodes a run committed, replayed one after the other into a plain table."""
    from rememberer.graph.state import StepRecord
    from rememberer.memory import Episode, InMemoryTable, RLEMConfig
    from rememberer.nodes.backup import episode_transitions

    steps = {}
    for line in (run_dir / "trajectories.jsonl").read_text().splitlines():
        row = json.loads(line)
        steps[row["episode_id"]] = [StepRecord(**s) for s in row["steps"]]
    table = InMemoryTable()
    for line in (run_dir / "episodes.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["phase"] == "train":
            transitions = episode_transitions({"steps": steps[row["episode_id"]]})
            table.apply(Episode(row["episode_id"], transitions, final_observation="end", terminal=row["success"]), RLEMConfig(gamma=0.9))
    return table.records


@pytest.mark.slow
def test_ray_workers_on_a_server_leave_the_memory_of_a_sequential_replay(local_ray, chroma_server, tmp_path):
    from rememberer.distributed import RayRun

    run = RayRun(_settings(tmp_path, "ray", memory_url=chroma_server, ray="local", workers=2))
    try:
        run.train(GOALS, 2)
        run.evaluate(["corridor-6"])
    finally:
        run.close()
    assert ray.is_initialized()  # the test's own instance is left alone

    lines = [json.loads(x) for x in (tmp_path / "runs" / "ray" / "episodes.jsonl").read_text().splitlines()]
    assert sorted((x["phase"], x["epoch"], x["goal_id"]) for x in lines) == sorted(
        [("train", e, g) for e in range(2) for g in GOALS] + [("eval", 0, "corridor-6")])  # each exactly once
    expected = replay(tmp_path / "runs" / "ray")
    stored = {r.id: r for r in ExperienceMemory(url=chroma_server, namespace="chain", embedder=run.memory.embedder).records()}
    assert set(stored) == set(expected) and expected
    for rid, want in expected.items():
        got = stored[rid]
        assert got.visits == want.visits
        assert {a.action: a.visits for a in got.actions} == {a.action: a.visits for a in want.actions}
        for a in want.actions:
            assert got.action(a.action).q == pytest.approx(a.q, abs=1e-9)
    assert len({a.action for r in stored.values() for a in r.actions}) > 1  # the script explored, Q is not trivial


@pytest.mark.slow
def test_cli_train_on_ray_then_resume_applies_nothing_twice(local_ray, chroma_server, tmp_path, capsys):
    argv = ["train", "--task", "chain", "--model", MODEL, "--memory-url", chroma_server, "--ray", "local", "--workers", "2",
            "--runs-dir", str(tmp_path / "runs"), "--run-name", "cli", "--train-goals", "2", "--epochs", "1"]
    assert main(argv) == 0
    import chromadb
    from chromadb.config import Settings

    host, port = chroma_server.removeprefix("http://").split(":")
    collection = chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False)).get_collection("rememberer-chain")
    before = collection.get(include=["metadatas"])["metadatas"]
    lines = (tmp_path / "runs" / "cli" / "episodes.jsonl").read_text().splitlines()
    (tmp_path / "runs" / "cli" / "episodes.jsonl").write_text(lines[0] + "\n")  # as if killed after the first commit
    assert main(["train", "--resume", "cli", "--runs-dir", str(tmp_path / "runs")]) == 0
    after = collection.get(include=["metadatas"])["metadatas"]
    assert sorted(m["visits"] for m in after) == sorted(m["visits"] for m in before)  # the replayed episode was a no-op
    assert len((tmp_path / "runs" / "cli" / "episodes.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("flags, message", [
    (["--ray", "local"], "--ray needs --memory-url"),
    (["--ray", "local", "--memory-url", "http://127.0.0.1:9", "--workers", "0"], "workers (--workers) must be ≥ 1"),
])
def test_ray_flags_are_checked_before_any_work(flags, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REMEMBERER_MEMORY_URL", raising=False)
    runs = tmp_path / "runs"
    assert main(["train", "--task", "chain", "--model", "fake:advice", "--runs-dir", str(runs), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not runs.exists()


@pytest.mark.slow
def test_ray_progress_advances_per_step_not_per_episode(local_ray, chroma_server, tmp_path):
    from rememberer.distributed import RayRun

    run = RayRun(_settings(tmp_path, "steps", model="fake:slow:0.3", memory_url=chroma_server, ray="local", workers=2,
                           epochs=1))
    run.progress_interval = 0.05
    seen: dict[str, list[int]] = {}
    finished: dict[str, int] = {}
    run.on_step = lambda episode_id, steps: seen.setdefault(episode_id, []).append(steps)
    try:
        run.train(GOALS, 1, lambda result: finished.setdefault(result.episode_id, result.steps))
    finally:
        run.close()
    assert set(finished) == set(seen)  # every episode reported steps while it ran
    for episode_id, steps in seen.items():
        assert steps == sorted(steps)  # counts only grow
        assert any(0 < s < finished[episode_id] for s in steps), (episode_id, steps, finished[episode_id])
