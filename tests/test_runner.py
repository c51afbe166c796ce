"""The train/eval protocol, run directories and the command line."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import pytest

from rememberer.cli import main
from rememberer.fakes import AdviceFollowingModel, scripted
from rememberer.memory import HashingEmbedder
from rememberer.runner import Run, RunSettings
from rememberer.tasks import load_task_set


@pytest.fixture
def settings(tmp_path):
    return RunSettings(task_set="chain", memory_dir=str(tmp_path / "memory"), runs_dir=str(tmp_path / "runs"), max_steps=6)


@pytest.fixture
def memory(tmp_path):
    from rememberer.memory import ExperienceMemory

    corridor = load_task_set("chain")
    return lambda: ExperienceMemory(tmp_path / "memory", namespace="chain", embedder=HashingEmbedder(64), observation_similarity=corridor.observation_similarity)


def test_run_directory_holds_config_episodes_and_summary(settings, memory):
    run = Run(settings, model=scripted("move right -> 1.0 go"), memory=memory())
    run.train(["corridor-3", "corridor-4"], epochs=3)
    run.evaluate(["corridor-6"])
    summary = run.summary(1.0)
    files = {p.name for p in run.directory.iterdir()}
    assert {"config.json", "episodes.jsonl", "trajectories.jsonl", "summary.json", "summary.md", "learning_curve.png"} <= files
    episodes = [json.loads(line) for line in (run.directory / "episodes.jsonl").read_text().splitlines()]
    # both goals solved in epoch 0, so later epochs replay nothing (the paper's protocol)
    assert [(e["phase"], e["epoch"], e["goal_id"]) for e in episodes] == [
        ("train", 0, "corridor-3"), ("train", 0, "corridor-4"), ("eval", 0, "corridor-6")]
    assert summary["phases"]["eval"]["success_rate"] == 1.0
    config = json.loads((run.directory / "config.json").read_text())
    assert config["settings"]["task_set"] == "chain" and "api_key" not in config["settings"]
    assert config["memory"]["path"].endswith("memory") and config["model_id"] == "FakeListChatModel"
    assert config["model_file"] is None  # a model with no weights file on disk
    assert config["code_version"].split("+")[0] == subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                                                 text=True, cwd=Path(__file__).parent).stdout.strip()
    trajectory = json.loads((run.directory / "trajectories.jsonl").read_text().splitlines()[0])
    assert trajectory["steps"][0]["action"] == "move right" and "prompt" not in trajectory["steps"][0]


def test_a_second_training_run_continues_from_the_first(settings, memory):
    first = Run(settings, model=AdviceFollowingModel(default="wait"), memory=memory())
    first.train(["corridor-4"], epochs=3)
    before = {r.id: r for r in first.memory.records()}
    second = Run(dataclasses.replace(settings, drop_solved=False), model=AdviceFollowingModel(default="wait"), memory=memory())
    assert len(second.memory) == len(before)
    second.train(["corridor-4"], epochs=2)
    after = {r.id: r for r in second.memory.records()}
    assert set(before) <= set(after)  # nothing lost
    assert len(after) == len({(r.task, r.observation) for r in after.values()})  # no duplicate keys
    grown = [rid for rid in before if after[rid].visits > before[rid].visits]
    assert grown, "revisited states must gain visits"
    assert all(after[rid].visits >= before[rid].visits for rid in before)


def test_environment_crash_is_recorded_and_the_run_goes_on(settings, memory):
    corridor = load_task_set("chain")

    class Flaky:
        def __init__(self):
            self.inner = corridor.make_env()

        def reset(self, goal_id):
            return self.inner.reset(goal_id)

        def step(self, action):
            if self.inner.length == 4:
                raise OSError("simulator died")
            return self.inner.step(action)

    tasks = dataclasses.replace(corridor, make_env=Flaky)
    run = Run(settings, model=scripted("move right -> 1.0 go"), memory=memory(), task_set=tasks)
    run.evaluate(["corridor-4", "corridor-3"])
    crashed, fine = run.results
    assert crashed.error and "simulator died" in crashed.error and not crashed.success
    assert fine.success and fine.error is None


@pytest.mark.parametrize(
    "argv, message",
    [
        (["run", "--task", "nope"], "unknown task set 'nope'"),
        (["eval", "--task", "chain", "--model", "openai:gpt-test", "--base-url", "http://127.0.0.1:9"], "cannot use the model endpoint"),
        (["eval", "--task", "chain", "--model", "quantum:1"], "unknown model spec 'quantum:1'; use local, local:PATH, openai:MODEL or openai-completion:MODEL (offline fakes: fake:advice"),
        (["eval", "--task", "chain", "--model", "local:/no/such/model.gguf"], "GGUF model file not found"),
        (["memory", "stats", "--memory-dir", "/no/such/dir"], "no memory at"),
        (["eval", "--task", "chain", "--test-goals", "1", "--model", "openai-completion:x", "--api-key", "k", "--base-url", "http://127.0.0.1:9"], "cannot use the model endpoint"),
    ],
)
def test_cli_errors_are_one_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "Traceback" not in err and len(err.splitlines()) == 1


def test_cli_memory_path_that_is_a_file(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    assert main(["train", "--task", "chain", "--memory-dir", str(tmp_path / "file"), "--model", "local:/nope.gguf"]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
