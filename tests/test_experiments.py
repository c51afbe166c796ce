"""The controlled policy and the transfer-experiment runner (a tiny version of the real grid)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from langchain_core.messages import HumanMessage

from rememberer.experiments import EXTRA_GROUPS, conditions, interval, selected_conditions, transfer
from rememberer.fakes import ControlledPolicy, controlled_policy

PROMPT = """Preamble.

Here are some examples:

Example 1:

Task: a
Encouraged:
get 1 stick -> 0.9 worked
Discouraged:
wait -> 0.0

Example 2:

Task: b
Encouraged:
get 1 oak log -> 0.4 maybe
Discouraged:


Now the new input:

Task: c
Available Actions:
- get 1 oak log
- get 1 stick
- craft 1 planks using 1 oak log
...

Encouraged:
"""


def _answer(model, prompt=PROMPT) -> str:
    return model.invoke([HumanMessage(content=prompt)]).content.split(" -> ")[0]


def test_at_p_1_the_policy_takes_the_best_advised_valid_action():
    assert _answer(ControlledPolicy(p=1.0)) == "get 1 stick"
    # advice for an action that is not valid now is ignored
    invalid = PROMPT.replace("- get 1 stick\n", "")
    assert _answer(ControlledPolicy(p=1.0), invalid) == "get 1 oak log"


def test_at_p_0_the_policy_is_uniformly_random_among_valid_actions():
    policy = ControlledPolicy(p=0.0, seed=3)
    picks = [_answer(policy) for _ in range(300)]
    assert set(picks) == {"get 1 oak log", "get 1 stick", "craft 1 planks using 1 oak log"}
    assert 60 < picks.count("get 1 stick") < 140  # about a third, not the advice


def test_p_is_the_share_of_advised_choices_and_a_seed_makes_it_reproducible():
    policy = ControlledPolicy(p=0.5, seed=7)
    picks = [_answer(policy) for _ in range(400)]
    # followed with probability p, plus a third of the random picks land on it too
    assert 0.55 < picks.count("get 1 stick") / 400 < 0.78
    again = ControlledPolicy(p=0.5, seed=7)
    assert [_answer(again) for _ in range(400)] == picks


def test_specs_are_parsed_and_bad_ones_refused():
    policy = controlled_policy("scripted:p=0.9,seed=4")
    assert (policy.p, policy.seed) == (0.9, 4)
    assert controlled_policy("scripted:").p == 1.0
    for bad in ("scripted:p=2", "scripted:q=1", "scripted:p=x"):
        with pytest.raises(ValueError):
            controlled_policy(bad)


def test_the_pooled_interval_is_wilsons():
    from rememberer.results import wilson

    low, high = wilson(8, 20)  # 40 % of 20 episodes
    assert low == pytest.approx(0.2188, abs=1e-4) and high == pytest.approx(0.6134, abs=1e-4)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


def test_interval_is_the_t_interval_of_the_seed_means():
    stats = interval([0.1, 0.2, 0.3])
    assert stats["mean"] == pytest.approx(0.2) and stats["sd"] == pytest.approx(0.1)
    assert stats["ci95"] == pytest.approx(4.303 * 0.1 / 3 ** 0.5)


@pytest.mark.slow
def test_a_tiny_transfer_grid_runs_end_to_end_and_reproduces(tmp_path):
    args = SimpleNamespace(task="chain", seeds=[0, 1], ps=[1.0], train_goals=2, epochs=2, test_goals=2,
                           train_split="train", test_split="test", max_steps=8, out=str(tmp_path / "a"))
    first = transfer(args)
    names = [c.name for c in selected_conditions(args)]
    assert [row["condition"] for row in first["table"]] == names
    # chain has no train_pool split: only that condition is left out
    assert [c.name for c in conditions([1.0]) if c.train_split is None and c.group not in EXTRA_GROUPS] == names
    assert len(first["rows"]) == len(names) * 2
    assert all(0.0 <= r["test_success"] <= 1.0 for r in first["rows"])
    baseline = [r for r in first["rows"] if r["condition"] == "no memory"]
    assert all(r["memory_records"] == 0 and r["train_solved_so_far"] is None for r in baseline)  # it never trains
    saved = json.loads((tmp_path / "a" / "transfer.json").read_text())
    assert saved["rows"] == first["rows"] and "| no memory |" in (tmp_path / "a" / "transfer.md").read_text()
    # every figure traces to a run directory with its config
    assert all((tmp_path / "a" / "runs" / r["run_id"] / "config.json").is_file() for r in first["rows"])
    args.out = str(tmp_path / "b")
    second = transfer(args)
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("wall_seconds", "test_time")} for r in rows]  # noqa: E731
    assert strip(second["rows"]) == strip(first["rows"])  # same seeds, same numbers


def test_an_interrupted_grid_resumes_its_unfinished_run_and_restarts_one_with_other_settings(tmp_path, capsys):
    """Run again into the same --out, a grid reuses its finished runs, continues an unfinished one
    from its last finished episode (same numbers as uninterrupted), and starts over a run whose
    settings differ; seed by seed, so an interrupted grid holds whole seeds."""
    import shutil

    args = SimpleNamespace(task="chain", seeds=[0, 1], ps=[1.0], train_goals=2, epochs=2, test_goals=3,
                           train_split="train", test_split="test", max_steps=8, out=str(tmp_path / "a"),
                           only=["goal-relative keys, on-tree actions", "no memory"])
    whole = transfer(args)
    assert [(r["seed"], r["condition"]) for r in whole["rows"]] == [(s, c) for s in (0, 1) for c in
                                                                    [c.name for c in selected_conditions(args)]]
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    run = tmp_path / "b" / "runs" / whole["rows"][-1]["run_id"]  # the last run, cut after its first test episode
    lines = (run / "episodes.jsonl").read_text().splitlines()
    kept = [line for line in lines if json.loads(line)["phase"] != "eval"]
    kept.append(next(line for line in lines if json.loads(line)["phase"] == "eval"))
    (run / "episodes.jsonl").write_text("\n".join(kept) + "\n")
    (run / "summary.json").unlink()
    args.out = str(tmp_path / "b")
    capsys.readouterr()
    resumed = transfer(args)
    printed = capsys.readouterr().out
    assert f"resuming the unfinished run {run.name}" in printed and "restarting" not in printed
    assert f"{run.name}: test 2/2 goals" in printed  # progress counts the test episodes kept from before
    assert printed.count("reused") == len(whole["rows"]) - 1  # every other run is reused as it was
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("wall_seconds", "test_time")} for r in rows]  # noqa: E731
    assert strip(resumed["rows"]) == strip(whole["rows"])
    resumes = (run / "resumes.jsonl").read_text().splitlines()
    assert len(resumes) == 1 and json.loads(resumes[0])["finished_episodes"] == len(kept)
    episodes = [json.loads(line) for line in (run / "episodes.jsonl").read_text().splitlines()]
    assert len(episodes) == len(lines) and len({(e["phase"], e["epoch"], e["goal_id"]) for e in episodes}) == len(lines)
    args.max_steps = 6  # other settings: nothing of the old runs is reused
    capsys.readouterr()
    transfer(args)
    assert capsys.readouterr().out.count("restarting the unfinished run") >= 2 * len(resumed["rows"])


@pytest.mark.slow
def test_the_results_document_is_regenerated_from_the_outputs_alone(tmp_path):
    from rememberer.experiments import main
    from rememberer.results import write

    out = tmp_path / "grid"
    assert main(["transfer", "--task", "chain", "--seeds", "0", "1", "--ps", "0.5", "1", "--train-goals", "2", "--epochs", "1",
                 "--test-goals", "2", "--max-steps", "6", "--out", str(out), "--only", "no memory",
                 "paper: verbatim keys, MC γ=1", "paper: verbatim keys, MC γ=1, p=0.5", "goal-relative keys, MC γ=1",
                 "goal-relative keys, MC γ=1, after 2 training epochs"]) == 0
    saved = json.loads((out / "transfer.json").read_text())
    assert saved["args"]["argv"][:3] == ["transfer", "--task", "chain"] and "load average" in saved["machine"]
    assert saved["complete"] and len(saved["rows"]) == 10
    # the learning-curve condition trains for its own number of epochs, the others for --epochs
    epochs = {r["condition"]: r["epochs"] for r in saved["rows"]}
    assert epochs["goal-relative keys, MC γ=1, after 2 training epochs"] == 2 and epochs["goal-relative keys, MC γ=1"] == 1
    assert epochs["no memory"] == 0
    curve_run = next(r for r in saved["rows"] if r["condition"].endswith("after 2 training epochs"))
    summary = json.loads((out / "runs" / curve_run["run_id"] / "summary.json").read_text())
    assert len(summary["train_epochs"]) == 2  # two epochs played, though --epochs says 1
    # the same command into the same --out reuses the finished runs instead of playing them again
    (out / "runs" / saved["rows"][0]["run_id"] / "episodes.jsonl").rename(out / "moved")  # proof it is not re-run
    argv = saved["args"]["argv"]
    assert main(argv) == 0
    again = json.loads((out / "transfer.json").read_text())
    strip = lambda rows: [{k: v for k, v in r.items() if k not in ("wall_seconds", "test_time")} for r in rows]  # noqa: E731
    assert strip(again["rows"]) == strip(saved["rows"]) and not (out / "runs" / saved["rows"][0]["run_id"] / "episodes.jsonl").exists()
    doc = write([str(out)], tmp_path / "docs" / "results.md")
    text = doc.read_text()
    assert "python -m rememberer.experiments transfer --task chain" in text  # the command that made the numbers
    assert "**Baselines without experience**" in text and "**The paper's configuration**" in text
    assert "| paper: verbatim keys, MC γ=1, p=0.5 | 2 |" in text
    runs = [r for r in saved["rows"] if r["condition"] == "no memory"]
    solved = sum(round(r["test_success"] * 2) for r in runs)
    assert f"| {solved}/4 (" in text.split("| no memory |")[1].split("\n")[0]  # 2 seeds × 2 goals pooled
    pngs = sorted(p.name for p in (tmp_path / "docs" / "results").glob("*.png"))
    assert pngs == ["chain-controlled-1-conditions.png", "chain-controlled-1-epochs.png", "chain-controlled-1-p-sweep.png"]
    assert "**Test success after each training epoch" in text
    assert all(f"(results/{name})" in text for name in pngs)
    again = write([str(out)], tmp_path / "docs" / "results.md").read_text()
    assert again == text  # regenerating changes nothing
    with pytest.raises(SystemExit, match="no experiment results"):
        write([str(tmp_path / "nothing")], tmp_path / "x.md")


def test_a_free_text_slot_is_filled_with_the_task():
    prompt = PROMPT.replace("Task: c\nAvailable Actions:\n- get 1 oak log\n- get 1 stick\n- craft 1 planks using 1 oak log\n",
                            "Task: red shoes under 30 dollars\nAvailable Actions:\n- search[...]\n")
    assert _answer(ControlledPolicy(p=0.0), prompt) == "search[red shoes under 30 dollars]"


def test_the_committed_results_document_is_what_its_command_makes(tmp_path, monkeypatch):
    """docs/results.md cannot drift from the experiment outputs kept beside it."""
    from rememberer.results import write

    root = Path(__file__).resolve().parent.parent
    outputs = sorted(p.relative_to(root).as_posix() for p in (root / "docs" / "results").glob("*.json"))
    if not outputs:
        pytest.skip("no experiment outputs committed under docs/results/")
    monkeypatch.chdir(root)
    made = write(outputs, tmp_path / "results.md").read_text(encoding="utf-8")
    made = made.replace(f"--doc {tmp_path / 'results.md'}", "--doc docs/results.md")
    assert made == (root / "docs" / "results.md").read_text(encoding="utf-8")


def test_the_protocol_grid_is_pools_by_training_sets_where_the_task_set_has_them(webshop_data):
    webshop = SimpleNamespace(task="webshop", ps=[1.0], only=None, all=True)
    chosen = [c for c in selected_conditions(webshop) if c.group == "protocol"]
    assert {(c.task_options["pool"], c.train_split if c.train else None) for c in chosen} == {
        (pool, split) for pool in ("E0", "E1", "E2") for split in ("train", "train_s1", None)}
    # TextCraft takes no pool option: its grid leaves the protocol group out, even with --all
    textcraft = SimpleNamespace(task="textcraft", ps=[1.0], only=None, all=True)
    assert not [c for c in selected_conditions(textcraft) if c.group == "protocol"]


@pytest.mark.slow
def test_a_protocol_condition_runs_on_its_own_pool_and_training_set(tmp_path, webshop_data):
    from rememberer.experiments import main

    out = tmp_path / "protocol"
    assert main(["transfer", "--task", "webshop", "--seeds", "0", "--ps", "1", "--train-goals", "1", "--epochs", "1",
                 "--test-goals", "1", "--max-steps", "4", "--out", str(out), "--only",
                 "protocol: pool E2, trained on train_s1"]) == 0
    row = json.loads((out / "transfer.json").read_text())["rows"][0]
    assert row["settings"]["task_options"] == {"pool": "E2"}
    config = json.loads((out / "runs" / row["run_id"] / "config.json").read_text())
    assert config["settings"]["task_options"] == {"pool": "E2"}
    episodes = [json.loads(line) for line in (out / "runs" / row["run_id"] / "episodes.jsonl").read_text().splitlines()]
    from rememberer.tasks import load_task_set

    train_s1 = load_task_set("webshop").goals("train_s1")[0]
    assert [e["goal_id"] for e in episodes if e["phase"] == "train"] == [train_s1]


def test_gains_are_paired_by_seed_against_the_strongest_baseline():
    from rememberer.results import paired

    def rows(name, group, successes):
        return [{"condition": name, "group": group, "seed": seed, "test_success": s, "test_reward": s / 2}
                for seed, s in enumerate(successes)]

    raw = (rows("no memory", "baseline", [0.1, 0.1, 0.1]) + rows("fixed", "baseline", [0.5, 0.7, 0.6])
           + rows("learned", "design", [0.6, 0.9, 0.6]) + rows("one seed", "design", [0.9]))
    table = [{"condition": name, "success": interval([r["test_success"] for r in raw if r["condition"] == name]),
              "reward": interval([r["test_reward"] for r in raw if r["condition"] == name])}
             for name in ("no memory", "fixed", "learned", "one seed")]
    text = paired({"rows": raw, "table": table})
    assert "strongest baseline without experience (fixed)" in text
    # differences 10, 20, 0 points: mean 10, t-interval 4.303 * 10 / sqrt(3)
    assert "| learned | 3 | +10.0 ± 24.8 | 2 of 3 | +0.050 ± 0.124 |" in text
    assert "one seed" not in text and "| no memory |" not in text  # too few paired seeds; baselines are not compared


def test_the_speed_table_sums_each_conditions_test_phase_over_seeds():
    from rememberer.results import speed

    def row(name, seed, decisions, seconds, tokens, wall):
        return {"condition": name, "seed": seed,
                "test_time": {"decisions": decisions, "model_seconds": seconds, "wall_seconds": wall, "prompt_tokens": tokens}}

    rows = [row("paper", 0, 100, 200.0, 80_000, 300.0), row("paper", 1, 60, 100.0, 48_000, 180.0),
            row("goal-first", 0, 100, 100.0, 80_000, 150.0), {"condition": "older row", "seed": 0}]
    text = speed({"rows": rows})
    assert "| paper | 2 | 160 | 0.53 | 800 | 4.0 |" in text  # 160 decisions in 300 s; (300 + 180) / 2 s per seed
    assert "| goal-first | 1 | 100 | 1.00 | 800 | 2.5 |" in text and "older row" not in text
    assert speed({"rows": [{"condition": "scripted", "seed": 0}]}) == ""  # no recorded cost, no table


def test_scienceworld_has_its_own_grid_and_textcraft_keeps_its_own():
    from rememberer.experiments import TASK_OPTIONS, main, task_options

    textcraft = [c.name for c in conditions([1.0])]
    assert [c.name for c in conditions([1.0], task="textcraft")] == textcraft
    assert "goal-relative keys, on-tree actions" in textcraft and "goal-relative keys, 2-step γ=0.9" not in textcraft
    grid = conditions([1.0], task="scienceworld")
    by_name = {c.name: c for c in grid}
    assert list(by_name) == [
        "no memory", "fixed exemplars (the initial pool, never updated)", "fixed exemplars, goal-relative keys",
        "paper: verbatim keys, MC γ=1", "verbatim keys, 2-step γ=0.9", "goal-relative keys, MC γ=1",
        "goal-relative keys, 2-step γ=0.9"]
    assert not any(c.knobs.get("prune_actions") for c in grid)  # the full valid-action list, as the simulator gives it
    assert by_name["goal-relative keys, 2-step γ=0.9"].knobs == {"memory_keys": "goal-relative", "prune_actions": False,
                                                                 "n_step": 2, "gamma": 0.9}
    assert not by_name["fixed exemplars, goal-relative keys"].train and not by_name["no memory"].use_memory
    args = SimpleNamespace(task="scienceworld", ps=[1.0], only=None, all=False)
    assert [c.name for c in selected_conditions(args)] == list(by_name)
    # the controlled policy chooses from the valid-action list, so the grid turns it on; options are checked
    assert TASK_OPTIONS["scienceworld"] == {"valid_actions": True}
    assert task_options(SimpleNamespace(task="scienceworld", task_option=["max_steps=9"])) == {"valid_actions": True, "max_steps": 9}
    with pytest.raises(SystemExit, match="unknown task option 'colour'"):
        task_options(SimpleNamespace(task="scienceworld", task_option=["colour=red"]))
    with pytest.raises(SystemExit):  # a TextCraft-only condition is not in ScienceWorld's grid
        main(["transfer", "--task", "scienceworld", "--only", "goal-relative keys, on-tree actions"])


def test_failed_episodes_get_their_own_column_only_where_rows_count_them():
    from rememberer.results import table

    stats = {"n": 2, "mean": 0.25, "sd": 0.1, "ci95": 0.9}
    result = {"test_goals": 4, "rows": [
        {"condition": "x", "group": "baseline", "test_success": 0.25, "test_failures": 1},
        {"condition": "x", "group": "baseline", "test_success": 0.25, "test_failures": 2}],
        "table": [{"condition": "x", "success": stats, "reward": stats, "train_solved": {"n": 0}}]}
    text = table(result)
    assert "test episodes failed (score −100), pooled" in text and "| 0.250 ± 0.900 | 3/8 | – |" in text
    for row in result["rows"]:
        del row["test_failures"]
    assert "failed" not in table(result) and "| 0.250 ± 0.900 | – |" in table(result)
