"""One source of settings: AgentKnobs → AgentContext, RunSettings and the CLI; early rejection."""

from __future__ import annotations

import dataclasses
import io
import json

import pytest

from rememberer.cli import build_parser, episode_status, main, progress_columns
from rememberer.graph.context import AgentContext, AgentKnobs, knob
from rememberer.runner import EpisodeResult, RunSettings, ordered_phases, reference_lines
from rememberer.settings import add_settings_arguments, cli_fields, flag_name


def test_every_knob_reaches_the_context_the_run_settings_and_the_cli():
    run_flags = {a.dest: a for a in build_parser()._subparsers._group_actions[0].choices["run"]._actions}
    context_fields = {f.name: f for f in dataclasses.fields(AgentContext)}
    settings_fields = {f.name for f in dataclasses.fields(RunSettings)}
    for f in dataclasses.fields(AgentKnobs):
        assert f.metadata["description"], f.name
        assert f.name in context_fields and f.name in settings_fields
        if f.metadata.get("cli", True) and "commands" not in f.metadata:
            assert f.name in run_flags, f"{f.name} has no flag"
            assert run_flags[f.name].option_strings == [flag_name(f)]


def test_a_new_knob_yields_its_flag_and_its_check_without_other_edits():
    @dataclasses.dataclass(kw_only=True)
    class Extended(RunSettings):
        q_aggregation: float = knob(0.5, "A knob added later.", ge=0.0, le=1.0)

    import argparse

    parser = argparse.ArgumentParser()
    add_settings_arguments(parser, Extended, "run")
    args = parser.parse_args(["--q-aggregation", "0.25"])
    assert args.q_aggregation == 0.25
    assert "q_aggregation" in {f.name for f in cli_fields(Extended, "run")}
    with pytest.raises(ValueError, match=r"q_aggregation \(--q-aggregation\) must be ≤ 1.0"):
        Extended(q_aggregation=2.0)


def test_studio_facing_plain_view_has_no_secrets_or_instances():
    ctx = AgentContext(api_key="sk-secret", model_instance=object())
    plain = ctx.plain()
    assert "api_key" not in plain and not any(k.endswith("_instance") for k in plain)
    assert json.dumps(plain)
    assert "api_key" not in RunSettings(api_key="sk-secret").public()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--gamma", "1.5"], "gamma (--gamma) must be ≤ 1.0, got 1.5"),
        (["--gamma", "-0.1"], "gamma (--gamma) must be ≥ 0.0"),
        (["--gamma", "nan"], "gamma (--gamma) must be a number, got NaN"),
        (["--n-step", "0"], "n_step (--n-step) must be ≥ 1"),
        (["--learning-rate", "0"], "learning_rate (--learning-rate) must be > 0.0"),
        (["--max-tokens", "0"], "max_tokens (--max-tokens) must be > 0"),
        (["--temperature", "-1"], "temperature (--temperature) must be ≥ 0.0"),
        (["--top-m", "-1"], "top_m (--top-m) must be ≥ 0"),
        (["--history", "-1"], "history_length (--history) must be ≥ 0"),
        (["--max-steps", "0"], "max_steps (--max-steps) must be ≥ 1"),
        (["--epochs", "0"], "epochs (--epochs) must be ≥ 1 for run, got 0"),
        (["--test-goals", "-1"], "test_goals (--test-goals) must be ≥ 0, got -1"),
        (["--gamma", "abc"], "invalid float value: 'abc'"),
        (["--update-mode", "median"], "invalid choice: 'median'"),
        (["--run-name", "../escape"], "must be a plain directory name inside --runs-dir"),
        (["--run-name", "a/b"], "must be a plain directory name inside --runs-dir"),
        (["--run-name", ".."], "must be a plain directory name inside --runs-dir"),
        (["--train-goals", "9"], "train_goals (--train-goals): split 'train' has only 3 goals (asked for 9)"),
        (["--pool", "E1"], "--pool does not apply to --task chain (it takes no options)"),
        (["--webshop-data", "/tmp"], "--webshop-data does not apply to --task chain"),
        (["--task-option", "pool=E1"], "unknown task option 'pool' for task set 'chain' (--task-option; it takes no options)"),
        (["--task-option", "pool"], "--task-option expects KEY=VALUE, got 'pool'"),
        (["--model", "openai:x", "--base-url", "http://127.0.0.1:9", "--api-key", "k"], "cannot use the model endpoint"),
        (["--model", "fake:nonsense"], "unknown fake model spec"),
        (["--max-records", "0"], "max_records (--max-records) must be ≥ 1"),
        (["--concurrency", "0"], "concurrency (--concurrency) must be ≥ 1"),
        (["--concurrency", "1000"], "concurrency (--concurrency) must be ≤ 256"),
        (["--concurrency", "two"], "invalid int value: 'two'"),
        (["--memory-url", "ftp://127.0.0.1:8000"], "memory_url (--memory-url): memory URL 'ftp://127.0.0.1:8000' is not http://HOST:PORT"),
        (["--memory-url", "http://127.0.0.1:99999"], "memory_url (--memory-url): memory URL 'http://127.0.0.1:99999' has a bad port"),
        (["--memory-url", "http://127.0.0.1:8000/some/path"], "is not http://HOST:PORT"),
        (["--memory-url", "http://127.0.0.1:9"], "cannot reach the memory server at http://127.0.0.1:9"),
    ],
)
def test_bad_arguments_are_rejected_in_one_line_and_leave_no_run_directory(flags, message, tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = ["run", "--task", "chain", "--model", "fake:advice", "--memory-dir", str(tmp_path / "m"), "--runs-dir", str(runs), *flags]
    with pytest.raises(SystemExit) if message.startswith("invalid") else _no_exit() as exit_info:
        code = main(argv)
    code = exit_info.value.code if message.startswith("invalid") else code
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not runs.exists() or not any(runs.iterdir())


class _no_exit:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_unwritable_runs_dir_is_rejected_before_work(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["run", "--task", "chain", "--model", "fake:advice", "--runs-dir", str(tmp_path / "file" / "runs")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_existing_run_name_is_refused(tmp_path, capsys):
    (tmp_path / "runs" / "mine").mkdir(parents=True)
    argv = ["run", "--task", "chain", "--model", "fake:advice", "--runs-dir", str(tmp_path / "runs"), "--run-name", "mine"]
    assert main(argv) == 2 and "already exists" in capsys.readouterr().err


def test_run_with_quick_defaults_works_for_the_chain_task(tmp_path, capsys):
    argv = ["run", "--task", "chain", "--model", "fake:advice", "--memory-dir", str(tmp_path / "m"),
            "--runs-dir", str(tmp_path / "runs"), "--run-name", "quick", "--baseline"]
    assert main(argv) == 0
    config = json.loads((tmp_path / "runs" / "quick" / "config.json").read_text())
    assert config["settings"]["train_goals"] == 3 and config["settings"]["test_goals"] == 2  # clamped to the splits
    summary = json.loads((tmp_path / "runs" / "quick" / "summary.json").read_text())
    assert list(summary["phases"]) == ["train", "eval", "baseline"]
    out = capsys.readouterr().out
    assert out.index("train 1") < out.index("eval") < out.index("baseline")


def test_phases_are_in_protocol_order():
    assert ordered_phases({"baseline", "eval", "train", "extra"}) == ["train", "eval", "baseline", "extra"]


def test_reference_lines_stay_apart_and_off_the_axes():
    summary = {"phases": {"baseline": {"episodes": 5, "success_rate": 0.0}, "eval": {"episodes": 5, "success_rate": 0.0}}}
    (eval_label, _, eval_y), (base_label, _, base_y) = reference_lines(summary)
    assert eval_label.startswith("eval") and base_label.startswith("baseline")
    assert eval_y != base_y and -0.08 < min(eval_y, base_y) and max(eval_y, base_y) < 1.08


def test_task_options_are_typed_from_the_loader_signature_and_unknown_keys_refused():
    from rememberer.tasks.options import task_options

    settings = RunSettings(task_set="webshop", task_options={"seed": "7", "search_anywhere": "yes", "pool": "E1"})
    assert settings.task_options == {"seed": 7, "search_anywhere": True, "pool": "E1"}
    assert task_options("webshop")["seed"].default == 233 and task_options("webshop")["pool"].description
    assert task_options("scienceworld")["valid_actions"].kind is bool and task_options("chain") == {}
    with pytest.raises(ValueError, match=r"unknown task option 'pol' for task set 'webshop' \(--task-option; its options: data_dir, "):
        RunSettings(task_set="webshop", task_options={"pol": "E1"})
    with pytest.raises(ValueError, match="task option search_anywhere must be true or false, got 'maybe'"):
        RunSettings(task_set="webshop", task_options={"search_anywhere": "maybe"})


def test_task_option_flags_and_their_shortcuts_reach_the_run_settings():
    from rememberer.settings import settings_from_args

    args = build_parser().parse_args(["run", "--task", "webshop", "--pool", "E2", "--task-option", "seed=5",
                                      "--webshop-data", "/data/ws"])
    settings = settings_from_args(RunSettings, args, "run")
    assert settings.task_options == {"seed": 5, "pool": "E2", "data_dir": "/data/ws"}
    assert settings_from_args(RunSettings, build_parser().parse_args(["run"]), "run").task_options == {}


def test_tasks_command_lists_every_task_set_with_its_options(capsys):
    from rememberer.tasks import TASK_SETS
    from rememberer.tasks.options import task_options

    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    blocks = {}
    for line in out.splitlines():
        if not line.startswith(" "):
            name = line.split(":", 1)[0]
            blocks[name] = ""
        blocks[name] += line + "\n"
    assert set(blocks) == set(TASK_SETS)
    for name, block in blocks.items():
        options = task_options(name)
        assert ("options: none" in block) == (not options), name
        for option in options.values():
            assert f"    {option.name} ({option.kind.__name__}" in block, (name, option.name)
    assert "pool (str, default E0): initial exemplar pool" in blocks["webshop"]


def test_eta_counts_the_running_episode_and_waits_for_the_first_step():
    from rememberer.cli import eta_seconds

    assert eta_seconds(total=4, completed=0, finished_steps=0, running_steps=0, step_cap=10, elapsed=5.0) is None
    # 2 steps of the first episode in 4 s: 2 s a step, the step cap (10) as the estimate per episode.
    assert eta_seconds(total=4, completed=0, finished_steps=0, running_steps=2, step_cap=10, elapsed=4.0) == 2 * (40 - 2)
    # one episode of 6 steps done and 3 steps into the next, 18 s: 2 s a step, 3 × 6 − 3 steps left.
    assert eta_seconds(total=4, completed=1, finished_steps=6, running_steps=3, step_cap=10, elapsed=18.0) == 2 * 15
    without_running = eta_seconds(total=4, completed=1, finished_steps=6, running_steps=0, step_cap=10, elapsed=18.0)
    assert without_running == 3 * 18


def _render(progress) -> list[str]:
    progress.console.print(progress.make_tasks_table(progress.tasks))
    lines = [line for line in progress.console.file.getvalue().splitlines() if line.strip()]
    progress.console.file.truncate(0)
    progress.console.file.seek(0)
    return lines


def test_progress_shows_estimating_then_a_step_based_eta_within_80_columns():
    from rich.console import Console
    from rich.progress import Progress

    from rememberer.cli import PhaseProgress

    console = Console(width=80, file=io.StringIO(), force_terminal=False, color_system=None)
    progress = Progress(*progress_columns(), console=console, auto_refresh=False)
    phase = PhaseProgress(progress, "baseline", 100, step_cap=12)
    progress.start_task(phase.bar)
    (line,) = _render(progress)
    assert "ETA estimating" in line and "0/100" in line and len(line) <= 80
    phase.step("ep-1", 3)
    (line,) = _render(progress)
    assert "ETA estimating" not in line and "ETA " in line and len(line) <= 80
    result = EpisodeResult(phase="eval", epoch=0, goal_id="a-long-goal-identifier-0123456789-abcdef", episode_id="ep-1",
                           success=True, reward=1.0, steps=7, fallbacks=0, retries=0, truncated=False, prompt_tokens=0,
                           completion_tokens=0, model_seconds=0, wall_seconds=1, actions=[], backup={})
    for _ in range(37):
        phase.episode(result)
    phase.step("ep-2", 2)
    (line,) = _render(progress)
    assert len(line) <= 80
    assert "37/100" in line and "ETA " in line and "solved 37/37" in line and "baseline" in line
    assert progress.tasks[phase.bar].fields["finished_steps"] == 37 * 7 and phase.running == {"ep-2": 2}


def test_the_runner_reports_each_step_of_the_running_episode(tmp_path):
    from rememberer.fakes import AdviceFollowingModel
    from rememberer.runner import Run

    settings = RunSettings(task_set="chain", memory_dir=str(tmp_path / "m"), runs_dir=str(tmp_path / "runs"), max_steps=12)
    run = Run(settings, model=AdviceFollowingModel())
    seen = []
    run.on_step = lambda episode_id, steps: seen.append((episode_id.rsplit(":", 1)[-1], steps))
    run.evaluate(["corridor-3"])
    steps = run.results[-1].steps
    assert steps >= 2 and [s for g, s in seen if g == "corridor-3"] == list(range(steps + 1))


def test_a_bad_memory_url_in_the_environment_is_rejected_before_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("REMEMBERER_MEMORY_URL", "http://")
    runs = tmp_path / "runs"
    assert main(["run", "--task", "chain", "--model", "fake:advice", "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip()
    assert "memory_url (--memory-url): memory URL 'http://' is not http://HOST:PORT" in err and len(err.splitlines()) == 1
    assert not runs.exists()


def test_max_records_reaches_the_memory_and_caps_it(tmp_path):
    argv = ["train", "--task", "chain", "--model", "fake:advice", "--memory-dir", str(tmp_path / "m"), "--keys", "verbatim",
            "--runs-dir", str(tmp_path / "runs"), "--run-name", "capped", "--max-records", "3", "--train-goals", "2",
            "--epochs", "1", "--keep-solved"]
    assert main(argv) == 0
    from rememberer.memory import ExperienceMemory, MiniLMEmbedder  # noqa: F401

    config = json.loads((tmp_path / "runs" / "capped" / "config.json").read_text())
    assert config["settings"]["max_records"] == 3 and config["context"]["max_records"] == 3
    from rememberer.memory import MemoryReader

    reader = MemoryReader(tmp_path / "m", namespace="chain")
    records = list(reader.records())
    assert 0 < len(records) <= 3  # two corridors have five states between them


def test_the_message_of_a_memory_full_of_pinned_records_names_a_real_flag(memory_factory, tmp_path):
    from rememberer.memory import MemoryStoreError

    pool = tmp_path / "pool.json"
    pool.write_text(json.dumps({"format": "rememberer-pool/1", "records": [
        {"task": "t", "observation": f"o{i}", "actions": [{"action": "a", "q": 1.0}]} for i in range(3)]}))
    memory = memory_factory(max_records=2)
    with pytest.raises(MemoryStoreError, match="raise --max-records"):
        memory.import_pool(pool)
    flags = {s for a in build_parser()._subparsers._group_actions[0].choices["train"]._actions for s in a.option_strings}
    assert "--max-records" in flags


def test_concurrency_reaches_every_phase_of_the_run(tmp_path, monkeypatch):
    from rememberer.runner import Run

    seen = []
    play_all = Run._play_all

    def spy(self, goals, **kwargs):
        seen.append((kwargs["phase"], kwargs["concurrency"]))
        return play_all(self, goals, **kwargs)

    monkeypatch.setattr(Run, "_play_all", spy)
    argv = ["run", "--task", "chain", "--model", "fake:advice", "--memory-dir", str(tmp_path / "m"),
            "--runs-dir", str(tmp_path / "runs"), "--concurrency", "3", "--baseline", "--epochs", "1"]
    assert main(argv) == 0
    assert seen == [("train", 3), ("eval", 3), ("baseline", 3)]


def test_the_graph_context_takes_task_options_as_studio_would_send_them():
    from rememberer.graph import AgentContext
    from rememberer.nodes.resources import task_set
    from rememberer.studio import context_problem
    from rememberer.tasks.base import TaskError
    from rememberer.tasks.webshop.catalog import resolve_data_dir

    with pytest.raises(ValueError, match="unknown task option 'pool' for task set 'textcraft'"):
        AgentContext(task_set="textcraft", task_options={"pool": "E1"})
    assert "unknown task option" in context_problem({"task_set": "textcraft", "task_options": {"pool": "E1"}})
    try:
        resolve_data_dir()
    except TaskError as exc:
        pytest.skip(str(exc))
    ctx = AgentContext(task_set="webshop", task_options={"pool": "E1"})
    assert task_set(ctx).metadata["pool"] == "E1" and task_set(AgentContext(task_set="webshop")).metadata["pool"] == "E0"
