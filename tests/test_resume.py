"""Resume: SIGKILL a training run anywhere; resumed, the memory equals an uninterrupted run's."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import time

import pytest

from rememberer.cli import main
from rememberer.fakes import AdviceFollowingModel
from rememberer.memory import ExperienceMemory, HashingEmbedder
from rememberer.runner import Run, RunSettings
from rememberer.tasks import load_task_set

GOALS = ["corridor-3", "corridor-4", "corridor-5"]
EPOCHS = 3


def _settings(root) -> RunSettings:
    return RunSettings(
        task_set="chain", memory_dir=str(root / "memory"), runs_dir=str(root / "runs"), run_name="r",
        max_steps=6, drop_solved=False, train_goals=len(GOALS), epochs=EPOCHS, test_goals=0,
    )


def _memory(root) -> ExperienceMemory:
    corridor = load_task_set("chain")
    return ExperienceMemory(root / "memory", namespace="chain", embedder=HashingEmbedder(64),
                            observation_similarity=corridor.observation_similarity)


def _child(root, resume: bool, ready) -> None:
    run = Run(_settings(root), model=AdviceFollowingModel(default="wait"), memory=_memory(root), resume=resume)
    ready.set()
    run.train(GOALS, EPOCHS)
    run.evaluate(["corridor-6"])
    os._exit(0)


def _context():
    """Children forked from a clean fork server (this test process has Chroma threads, which a
    plain fork could deadlock on); the server imports the project once, so a child starts fast."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["rememberer.runner", "rememberer.memory", "rememberer.fakes", "chromadb"])
    return ctx


def _play(root, resume: bool, kill_after: float | None) -> int | None:
    """Run a child; SIGKILL it ``kill_after`` s after it is ready."""
    ctx = _context()
    ready = ctx.Event()
    child = ctx.Process(target=_child, args=(root, resume, ready))
    child.start()
    assert ready.wait(60), "child did not start"
    if kill_after is not None:
        time.sleep(kill_after)
        if child.is_alive():
            os.kill(child.pid, signal.SIGKILL)
    child.join(120)
    assert not child.is_alive()
    return child.exitcode


def _snapshot(root) -> tuple[dict, list]:
    """Read in a child too (Chroma keeps per-process state about a directory)."""
    ctx = _context()
    queue = ctx.Queue()
    child = ctx.Process(target=_snapshot_child, args=(root, queue))
    child.start()
    result = queue.get(timeout=60)
    child.join(30)
    return result


def _snapshot_child(root, queue) -> None:
    queue.put(_read_snapshot(root))


def _read_snapshot(root) -> tuple[dict, list]:
    memory = _memory(root)
    records = {}
    for r in memory.records():
        records[r.id] = (
            r.visits, round(r.last_reward, 9), round(r.total_reward, 9), tuple(r.action_history), tuple(r.applied_updates),
            tuple(sorted((a.action, round(a.q, 9), a.visits, round(a.mean_reward, 9)) for a in r.actions)),
        )
    lines = (root / "runs" / "r" / "episodes.jsonl").read_text().splitlines()
    episodes = [(e["phase"], e["epoch"], e["goal_id"], e["success"], tuple(e["actions"])) for e in map(json.loads, lines)]
    return records, episodes


@pytest.mark.slow
def test_sigkill_at_random_points_then_resume_equals_an_uninterrupted_run(tmp_path):
    reference_root = tmp_path / "reference"
    started = time.perf_counter()
    assert _play(reference_root, False, None) == 0
    duration = time.perf_counter() - started
    reference = _snapshot(reference_root)
    assert sum(v[0] for v in reference[0].values()) > 20 and len(reference[1]) == len(GOALS) * EPOCHS + 1
    rng = random.Random(16)
    trials, kills, trial = 20, 0, 0
    # Kill times are drawn from the reference run's duration; when the machine speeds up after
    # it (load falls), kills land after the end, so trials continue in a shorter window until
    # enough kills have landed (at most twice as many trials).
    while trial < trials or (kills < trials // 4 and trial < 2 * trials):
        span = (0.7 if trial < trials else 0.3) * duration
        root = tmp_path / f"trial-{trial}"
        trial += 1
        kills += _play(root, False, rng.uniform(0.0, span)) != 0
        resumes = 0
        while True:  # resume until finished; some resumes are killed again
            again = rng.uniform(0.0, span) if rng.random() < 0.3 and resumes < 3 else None
            code = _play(root, True, again)
            resumes += 1
            kills += code != 0
            if code == 0:
                break
        records, episodes = _snapshot(root)
        assert episodes == reference[1], f"trial {trial}: episodes differ from the uninterrupted run"
        assert records == reference[0], f"trial {trial}: memory differs from the uninterrupted run"
    print(f"resume: {trial} trials, {kills} SIGKILLs, all equal to the uninterrupted run (run {duration:.1f} s)")
    assert kills >= trials // 4  # the kills must land before the run finished (12-17 of 20+ here)


def test_resume_skips_committed_episodes_and_drops_a_torn_line(tmp_path):
    run = Run(_settings(tmp_path), model=AdviceFollowingModel(default="wait"), memory=_memory(tmp_path))
    run.train(GOALS[:2], 1)
    visits = sum(r.visits for r in run.memory.records())
    episodes = tmp_path / "runs" / "r" / "episodes.jsonl"
    with open(episodes, "a") as handle:
        handle.write('{"phase": "train", "ep')  # a write cut by a crash
    resumed = Run(_settings(tmp_path), model=AdviceFollowingModel(default="wait"), memory=_memory(tmp_path), resume=True)
    assert len(resumed.results) == 2 and episodes.read_text().endswith("}\n")
    resumed.train(GOALS[:2], 1)  # both finished: nothing is played or applied again
    assert sum(r.visits for r in resumed.memory.records()) == visits
    assert len(episodes.read_text().splitlines()) == 2


def test_resume_refuses_a_memory_that_lost_its_records(tmp_path):
    run = Run(_settings(tmp_path), model=AdviceFollowingModel(default="wait"), memory=_memory(tmp_path))
    run.train(GOALS[:1], 1)
    from rememberer.memory import MemoryStoreError

    corridor = load_task_set("chain")
    empty = ExperienceMemory(tmp_path / "other", namespace="chain", embedder=HashingEmbedder(64),
                             observation_similarity=corridor.observation_similarity)
    with pytest.raises(MemoryStoreError, match="refusing to resume"):
        Run(_settings(tmp_path), model=AdviceFollowingModel(default="wait"), memory=empty, resume=True)


def test_cli_resume_of_a_missing_run_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["train", "--task", "chain", "--resume", "nope", "--runs-dir", str(tmp_path)]) == 2
    assert "no run to resume" in capsys.readouterr().err


class _SlowModel(AdviceFollowingModel):
    """Answers after 100 ms, like a remote endpoint."""

    def _generate(self, messages, stop=None, run_manager=None, **kwargs):
        time.sleep(0.1)
        return super()._generate(messages, stop, run_manager, **kwargs)


def test_concurrent_episodes_in_one_process_commit_each_once(tmp_path):
    settings = _settings(tmp_path)
    run = Run(settings, model=_SlowModel(default="move right"), memory=_memory(tmp_path))
    goals = GOALS + ["corridor-6", "corridor-7"]
    started = time.perf_counter()
    run.evaluate(goals, phase="sequential")
    sequential = time.perf_counter() - started
    started = time.perf_counter()
    run.evaluate(goals, concurrency=5)
    parallel = time.perf_counter() - started
    lines = [json.loads(line) for line in (tmp_path / "runs" / "r" / "episodes.jsonl").read_text().splitlines()]
    assert sorted(e["goal_id"] for e in lines if e["phase"] == "eval") == sorted(goals)
    assert all(e["success"] for e in lines)
    assert parallel < 0.75 * sequential, (parallel, sequential)  # episodes overlapped
    run.train(GOALS, 1, concurrency=3)
    trained = [r for r in run.results if r.phase == "train"]
    assert sum(r.visits for r in run.memory.records()) == sum(r.steps for r in trained)
