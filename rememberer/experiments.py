"""Transfer experiments: does experience help on goals never practised, and which design makes it?

    python -m rememberer.experiments transfer [--seeds 0 1 2] [--ps 1.0] [--test-goals 100] [--only TEXT ...]
                                              [--model local] [--doc docs/results.md]

For every seed and condition, a fresh memory is trained on the training goals (RLEM updates),
then the test goals are played with the memory frozen. The actor is the **controlled policy**
``scripted:p=P,seed=S`` unless ``--model`` names a real one: it takes the top advised valid
action with probability ``p``, otherwise a random valid one, so at ``p = 1`` test success is
what the memory's advice alone is worth on unseen goals, free of any model's quirks.

The grid (:func:`conditions`), all on the same seeds, goals and step cap:

* baselines without experience: ``no memory`` (random valid actions, or the model alone);
  ``no memory, on-tree actions`` (the same, offered only actions on the goal's recipe tree:
  the best no-memory policy with the task knowledge the goal-relative keys use);
  ``fixed exemplars`` (the initial pool as static advice, the paper's "LLM only"), also under
  the design's goal-relative keys, alone and with on-tree actions: the strongest baselines that
  learn nothing, which the learned memory has to beat;
* the paper's configuration (verbatim keys, Monte-Carlo return, γ = 1), with and without
  random exploration advice at test time, and over ``--ps``;
* the design: goal-relative keys (``--keys``) with MC γ=1 (the default), MC γ=0.9, 1-step and
  3-step γ=0.9 bootstrapping, without exploration advice at test, with on-tree actions, and
  trained on ``--pool-goals`` goals of ``train_pool`` instead of the paper's 10;
* ablations of the design: without discouraged actions, without Q values (plain experience
  replay), random instead of similar exemplars;
* with ``--all``: the design's p sweep over ``--ps``, its test success after 0, 1 and 2 training
  epochs (the learning curve; the design row is epoch 3) and against the number of
  ``train_pool`` training goals (5 to 100); and, for task sets with several initial pools and
  two disjoint training sets (WebShop: pools E0–E2, ``train`` and ``train_s1``), the paper's
  protocol grid: the design trained on each training set from each pool, and each pool fixed.

Writes ``transfer.json`` (per-seed numbers, run ids, settings) and ``transfer.md`` (mean and
95 % t-interval per condition) to ``--out``; ``--doc`` also rewrites a results document. Run
directories stay under ``--out/runs`` so every figure traces to its config, seeds and code.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# two-sided 95 % Student t quantiles by degrees of freedom
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def interval(values: list[float]) -> dict[str, float]:
    """Mean, sample standard deviation and the 95 % t-interval half-width."""
    n = len(values)
    mean = statistics.fmean(values) if values else float("nan")
    sd = statistics.stdev(values) if n > 1 else 0.0
    half = _T95.get(n - 1, 1.96) * sd / math.sqrt(n) if n > 1 else float("nan")
    return {"n": n, "mean": mean, "sd": sd, "ci95": half}


@dataclass
class Condition:
    name: str
    p: float
    use_memory: bool = True
    train: bool = True
    knobs: dict[str, Any] = field(default_factory=dict)
    eval_knobs: dict[str, Any] = field(default_factory=dict)
    train_goals: int | None = None
    """Training goals for this condition (None: ``--train-goals``)."""
    train_split: str | None = None
    """Split the training goals come from (None: ``--train-split``)."""
    epochs: int | None = None
    """Training epochs for this condition (None: ``--epochs``)."""
    task_options: dict[str, Any] = field(default_factory=dict)
    """Options of the task set for this condition (e.g. WebShop's initial pool ``{"pool": "E1"}``);
    a condition whose options the task set does not take is left out of its grid."""
    group: str = "main"


VERBATIM = {"memory_keys": "verbatim", "prune_actions": False}
RELATIVE = {"memory_keys": "goal-relative", "prune_actions": False}
"""Goal-relative keys with every valid action offered; conditions add ``prune_actions`` where
they say "on-tree actions" (pinned, so a changed default cannot change what a condition means)."""
ONE_STEP = {"n_step": 1, "gamma": 0.9}


def conditions(ps: list[float], *, pool_goals: int = 50, task: str | None = None) -> list[Condition]:
    """The grid: baselines without experience, the paper's configuration, the design choices of
    issue 13 and the ablations, each measured on the same seeds and goals. Conditions other than
    the p sweep use the largest p. ScienceWorld has its own grid (:func:`scienceworld_conditions`)."""
    if task in TASK_GRIDS:
        return TASK_GRIDS[task](ps)
    top = max(ps)
    best = dict(RELATIVE)  # the design: goal-relative keys with the paper's update (MC, γ = 1)
    out = [
        Condition("no memory", p=0.0, use_memory=False, train=False, knobs=VERBATIM, group="baseline"),
        Condition("no memory, on-tree actions", p=0.0, use_memory=False, train=False,
                  knobs={**RELATIVE, "prune_actions": True}, group="baseline"),
        Condition("fixed exemplars (the initial pool, never updated)", p=top, train=False, knobs=VERBATIM, group="baseline"),
        # the same fixed pool under the design's keys: the strongest baselines that learn nothing
        Condition(FIXED_RELATIVE, p=top, train=False, knobs=best, group="baseline"),
        Condition(FIXED_RELATIVE + ", on-tree actions", p=top, train=False, knobs={**best, "prune_actions": True},
                  group="baseline"),
    ]
    for p in ps:
        out.append(Condition("paper: verbatim keys, MC γ=1" + (f", p={p:g}" if p != top else ""), p=p, knobs=VERBATIM,
                             group="paper"))
    out += [
        Condition("paper, no exploration advice at test", p=top, knobs=VERBATIM, eval_knobs={"random_advice": False},
                  group="paper"),
        Condition("goal-relative keys, MC γ=1", p=top, knobs=best, group="design"),
        Condition("goal-relative keys, MC γ=0.9", p=top, knobs={**best, "gamma": 0.9}, group="design"),
        Condition("goal-relative keys, 1-step γ=0.9", p=top, knobs={**best, **ONE_STEP}, group="design"),
        Condition("goal-relative keys, 3-step γ=0.9", p=top, knobs={**best, "n_step": 3, "gamma": 0.9}, group="design"),
        Condition("goal-relative keys, Q averaged over similar records", p=top, knobs={**best, "aggregate_q": True},
                  group="design"),
        Condition("goal-relative keys, no exploration advice at test", p=top, knobs=best,
                  eval_knobs={"random_advice": False}, group="design"),
        Condition("goal-relative keys, on-tree actions", p=top, knobs={**best, "prune_actions": True}, group="design"),
        Condition("goal-relative keys, on-tree actions, MC γ=0.9", p=top, knobs={**best, "prune_actions": True, "gamma": 0.9},
                  group="design"),
        Condition(f"goal-relative keys, on-tree actions, {pool_goals} training goals", p=top,
                  knobs={**best, "prune_actions": True}, train_goals=pool_goals, train_split="train_pool", group="design"),
        Condition(f"goal-relative keys, on-tree actions, MC γ=0.9, {pool_goals} training goals", p=top,
                  knobs={**best, "prune_actions": True, "gamma": 0.9}, train_goals=pool_goals, train_split="train_pool",
                  group="design"),
        Condition("ablation: without discouraged actions", p=top, knobs={**best, "discourage": False}, group="ablation"),
        Condition("ablation: without Q values (experience replay)", p=top, knobs={**best, "advice": "replay"},
                  group="ablation"),
        Condition("ablation: random instead of similar exemplars", p=top, knobs={**best, "exemplar_choice": "random"},
                  group="ablation"),
    ]
    for p in ps:  # the p sweep of each design (its top p is the design's row above)
        if p != top:
            out.append(Condition(f"goal-relative keys, MC γ=1, p={p:g}", p=p, knobs=best, group="p-sweep"))
            out.append(Condition(f"goal-relative keys, on-tree actions, p={p:g}", p=p, knobs={**best, "prune_actions": True},
                                 group="p-sweep"))
            out.append(Condition(f"{FIXED_RELATIVE}, on-tree actions, p={p:g}", p=p, train=False,
                                 knobs={**best, "prune_actions": True}, group="p-sweep"))
    # test success after each training epoch, as separate runs that stop training after k epochs
    # (same goals and seeds; the design row is the last epoch; epoch 0 is FIXED_RELATIVE)
    for k in EPOCH_CURVE:
        out.append(Condition(f"goal-relative keys, MC γ=1, after {k} training epoch{'s' if k > 1 else ''}", p=top,
                             knobs=best, epochs=k, group="epochs"))
    for n in CURVE_GOALS:  # test success against the number of training goals
        out.append(Condition(f"goal-relative keys, MC γ=1, {n} train_pool goals", p=top, knobs=best, train_goals=n,
                             train_split="train_pool", group="curve"))
    # the prompt's layout (a local model's speed): the goal and its context before the exemplars, so the
    # KV cache keeps them from step to step; the same knowledge and advice as the paper's layout
    goal_first = {**best, "prune_actions": True, "prompt_layout": "goal-first"}
    out.append(Condition(f"{FIXED_RELATIVE}, on-tree actions, goal-first prompt", p=top, train=False, knobs=goal_first,
                         group="layout"))
    out.append(Condition("goal-relative keys, on-tree actions, goal-first prompt", p=top, knobs=goal_first, group="layout"))
    # the paper's protocol grid: initial exemplar pools × training sets (task sets with a ``pool`` option and the
    # two disjoint training sets, i.e. WebShop's E0–E2 × train / train_s1), the design on each, and each pool fixed
    on_tree = {**best, "prune_actions": True}
    for pool in PROTOCOL_POOLS:
        out.append(Condition(f"protocol: pool {pool}, fixed (never updated)", p=top, train=False, knobs=on_tree,
                             task_options={"pool": pool}, group="protocol"))
        for split in PROTOCOL_TRAINING_SETS:
            out.append(Condition(f"protocol: pool {pool}, trained on {split}", p=top, knobs=on_tree, train_split=split,
                                 task_options={"pool": pool}, group="protocol"))
    return out


def scienceworld_conditions(ps: list[float]) -> list[Condition]:
    """ScienceWorld's grid (dense rewards, variation transfer): no memory; the initial pool as fixed
    exemplars under both key schemes; the paper's update (Monte-Carlo, γ = 1) against 2-step
    bootstrapping with γ = 0.9, under both key schemes. Every valid action is offered (the
    controlled policy chooses from the simulator's list); a wrong ``focus on`` costs −100."""
    top = max(ps)
    two_step = {"n_step": 2, "gamma": 0.9}
    return [
        Condition("no memory", p=0.0, use_memory=False, train=False, knobs=VERBATIM, group="baseline"),
        Condition("fixed exemplars (the initial pool, never updated)", p=top, train=False, knobs=VERBATIM, group="baseline"),
        Condition(FIXED_RELATIVE, p=top, train=False, knobs=RELATIVE, group="baseline"),
        Condition("paper: verbatim keys, MC γ=1", p=top, knobs=VERBATIM, group="paper"),
        Condition("verbatim keys, 2-step γ=0.9", p=top, knobs={**VERBATIM, **two_step}, group="paper"),
        Condition("goal-relative keys, MC γ=1", p=top, knobs=RELATIVE, group="design"),
        Condition("goal-relative keys, 2-step γ=0.9", p=top, knobs={**RELATIVE, **two_step}, group="design"),
    ]


TASK_GRIDS = {"scienceworld": scienceworld_conditions}
"""Task sets with a grid of their own (the others share :func:`conditions`)."""
TASK_OPTIONS = {"scienceworld": {"valid_actions": True}}
"""Task options the controlled policy needs (it chooses from the valid-action list); ``--task-option`` adds to them."""


FIXED_RELATIVE = "fixed exemplars, goal-relative keys"
"""The initial pool as static advice under goal-relative keys (epoch 0 of the learning curve)."""
CURVE_GOALS = (5, 10, 25, 50, 100)
EPOCH_CURVE = (1, 2)
"""Epochs of the per-epoch learning curve (the design row itself is the last epoch)."""
PROTOCOL_POOLS = ("E0", "E1", "E2")
PROTOCOL_TRAINING_SETS = ("train", "train_s1")
"""The protocol grid (the paper's WebShop setting): initial pools × disjoint training sets."""
EXTRA_GROUPS = ("p-sweep", "curve", "epochs", "protocol", "layout")
"""Left out of the default grid (``--all`` or ``--only`` includes them)."""


def _run_code_version(root: Path, run_id: str) -> str | None:
    """The code version a run recorded in its ``config.json`` (a re-run grid reuses older runs),
    followed by any other version that resumed it (``a+b``)."""
    directory = root / "runs" / run_id
    try:
        versions = [json.loads((directory / "config.json").read_text(encoding="utf-8")).get("code_version")]
    except (OSError, json.JSONDecodeError):
        return None
    try:
        resumes = (directory / "resumes.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        resumes = []
    for line in resumes:
        try:
            version = json.loads(line).get("code_version")
        except json.JSONDecodeError:
            continue
        if version and version not in versions:
            versions.append(version)
    return "+".join(v for v in versions if v) or None


def _row(condition: Condition, seed: int, run_id: str, train_goals: int, summary: dict[str, Any], wall: float,
         epochs: int | None = None, code: str | None = None, failures: int | None = None) -> dict[str, Any]:
    evals = summary["phases"].get("eval", {})
    per_epoch = summary.get("train_epochs") or {}
    last = max(per_epoch, key=int) if per_epoch else None
    extra = {} if failures is None else {"test_failures": failures}
    if evals.get("episodes") and "model_seconds" in evals:  # the test phase's cost: decisions, model time, tokens
        extra["test_time"] = {"decisions": round(evals["mean_steps"] * evals["episodes"]), "model_seconds": evals["model_seconds"],
                              "wall_seconds": evals.get("wall_seconds"), "prompt_tokens": evals.get("prompt_tokens", 0)}
    return {**extra,
        "condition": condition.name, "group": condition.group, "seed": seed, "run_id": run_id, "p": condition.p,
        "train_goals": train_goals if condition.train else 0, "epochs": epochs if condition.train else 0,
        "settings": {**condition.knobs, **{f"eval.{k}": v for k, v in condition.eval_knobs.items()},
                     **({"task_options": condition.task_options} if condition.task_options else {})},
        "test_success": evals.get("success_rate", 0.0), "test_reward": evals.get("mean_reward", 0.0),
        "train_solved_so_far": per_epoch[last]["solved_so_far"] if last is not None else None,
        "memory_records": summary["memory"]["records"], "wall_seconds": round(wall, 1), "code_version": code,
    }


def finished_row(condition: Condition, seed: int, args: argparse.Namespace, root: Path, name: str,
                 train_goals: int, epochs: int | None, test_episodes: int) -> dict[str, Any] | None:
    """The row of a run that already finished in ``root`` (its summary covers all ``test_episodes``
    test goals, which a split may hold fewer of than ``--test-goals``)."""
    path = root / "runs" / name / "summary.json"
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if summary.get("phases", {}).get("eval", {}).get("episodes") != test_episodes:
        return None
    failures = None
    if args.task in FAILURE_TASKS:
        episodes = [json.loads(line) for line in (root / "runs" / name / "episodes.jsonl").read_text(encoding="utf-8").splitlines()]
        failures = sum(1 for e in episodes if e.get("phase") == "eval" and float(e.get("reward", 0.0)) <= FAILED)
    return _row(condition, seed, summary["run_id"], train_goals, summary, summary.get("wall_seconds", 0.0), epochs,
                _run_code_version(root, summary["run_id"]), failures)


FAILURE_TASKS = ("scienceworld",)
"""Task sets whose episodes can end in failure with a negative return (ScienceWorld: a wrong ``focus on``
sets the score to −100); their rows count the test episodes that did."""
FAILED = -0.999


LOCATIONS = ("memory_dir", "runs_dir")
"""Settings that say where a run lives, not what it does (a grid's output may have moved)."""


def same_settings(root: Path, name: str, settings: Any) -> bool:
    """Whether ``runs/<name>`` was started with these settings (a field the run predates counts as
    its default; locations are not compared), so its episodes belong to this grid cell."""
    from rememberer.runner import RunSettings

    try:
        saved = json.loads((root / "runs" / name / "config.json").read_text(encoding="utf-8"))["settings"]
    except (OSError, json.JSONDecodeError, KeyError, TypeError):
        return False
    if not isinstance(saved, dict):
        return False
    plain = lambda values: json.loads(json.dumps(values, default=str))  # noqa: E731 - tuples as lists, as saved
    wanted, defaults = plain(settings.public()), plain(RunSettings().public())
    return all(saved.get(key, defaults.get(key)) == value for key, value in wanted.items() if key not in LOCATIONS)


class Progress:
    """A line at most once a ``every`` seconds while one run of the grid plays, and after its last
    test episode: a 100-goal evaluation with the embedded model takes most of an hour."""

    def __init__(self, name: str, test_goals: int, done: Sequence[Any] = (), every: float = 60.0):
        self.name, self.test_goals, self.every = name, test_goals, every
        self.before = {r.episode_id for r in done}  # finished before a resume: replayed instantly
        self.tested = self.solved = self.trained = 0
        self.fresh = 0  # test episodes played here (the ETA's rate)
        self.started = self.last = time.perf_counter()

    def __call__(self, result: Any) -> None:
        now = time.perf_counter()
        if result.phase == "eval":
            self.tested += 1
            self.solved += result.success
            self.fresh += result.episode_id not in self.before
        else:
            self.trained += 1
        if now - self.last < self.every and self.tested < self.test_goals:
            return
        self.last = now
        if not self.tested:
            print(f"  {self.name}: training, {self.trained} episodes", flush=True)
            return
        left = self.test_goals - self.tested
        eta = f", ETA {left * (now - self.started) / self.fresh / 60:.0f} min" if left and self.fresh else ""
        print(f"  {self.name}: test {self.tested}/{self.test_goals} goals, {self.solved} solved{eta}", flush=True)


def run_condition(condition: Condition, seed: int, args: argparse.Namespace, root: Path,
                  reused: list[str] | None = None) -> dict[str, Any]:
    """Run one cell of the grid (or reuse or resume it: see :func:`transfer`); the names of reused
    runs are appended to ``reused``."""
    from rememberer.fakes import controlled_policy
    from rememberer.runner import Run, RunSettings
    from rememberer.tasks import load_task_set

    options = {**task_options(args), **condition.task_options}
    tasks = load_task_set(args.task, **options)
    slug = "".join(ch for ch in condition.name.replace("γ", "g").replace(",", "_") if ch.isalnum() or ch in "._-")
    name = f"{slug[:80]}-seed{seed}"
    train_goals = condition.train_goals or args.train_goals
    train_split = condition.train_split or args.train_split
    epochs = condition.epochs if condition.epochs is not None else args.epochs
    test_goals = list(tasks.goals(args.test_split)[: args.test_goals])
    model = getattr(args, "model", None) or f"scripted:p={condition.p:g},seed={seed}"
    settings = RunSettings(
        task_set=args.task, model=model, memory_dir=str(root / "memory" / name),
        runs_dir=str(root / "runs"), run_name=name, max_steps=args.max_steps, seed=seed, use_memory=condition.use_memory,
        train_goals=train_goals, test_goals=args.test_goals, epochs=epochs, task_options=options,
        train_split=train_split, test_split=args.test_split, **condition.knobs,
    )
    resume = same_settings(root, name, settings) and (root / "memory" / name).is_dir()
    if resume:
        done = finished_row(condition, seed, args, root, name, train_goals, epochs, len(test_goals))
        if done is not None:  # a grid re-run into the same --out reuses what already finished
            if reused is not None:
                reused.append(name)
            return done
        print(f"resuming the unfinished run {name}", flush=True)  # from its last finished episode
    else:  # a run started with other settings (or without its config) starts over
        from rememberer.nodes.resources import forget_memory

        forget_memory(root / "memory" / name)  # this process may have it open (a grid run twice in one process)
        for stale in (root / "runs" / name, root / "memory" / name):
            if stale.exists():
                print(f"restarting the unfinished run {name}: removing {stale}", flush=True)
                shutil.rmtree(stale)
    policy = controlled_policy(settings.model) if model.startswith("scripted:") else None  # else the run loads it
    run = Run(settings, model=policy, task_set=tasks, resume=resume)
    started = time.perf_counter()
    progress = Progress(name, len(test_goals), run.results)
    if condition.train:
        run.train(list(tasks.goals(train_split)[:train_goals]), epochs, on_episode=progress)
    for key, value in condition.eval_knobs.items():
        setattr(run.context, key, value)
    run.context.use_memory = condition.use_memory
    progress.started = time.perf_counter()  # the ETA is the test phase's own rate
    run.evaluate(test_goals, on_episode=progress)
    summary = run.summary(time.perf_counter() - started)
    failures = None
    if args.task in FAILURE_TASKS:
        failures = sum(1 for r in run.results if r.phase == "eval" and r.reward <= FAILED)
    return _row(condition, seed, run.run_id, train_goals, summary, time.perf_counter() - started, epochs,
                _run_code_version(root, run.run_id), failures)


def task_options(args: argparse.Namespace) -> dict[str, Any]:
    """The task set's options for this grid: what the controlled policy needs, then ``--task-option``."""
    from rememberer.tasks.options import check_task_options

    given = {}
    for item in getattr(args, "task_option", None) or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"--task-option needs KEY=VALUE, got {item!r}")
        given[key.strip()] = value
    try:
        return check_task_options(args.task, {**TASK_OPTIONS.get(args.task, {}), **given})
    except ValueError as exc:
        raise SystemExit(str(exc)) from None


def _code_version() -> str:
    from rememberer.runner import code_version

    return code_version()


def selected_conditions(args: argparse.Namespace) -> list[Condition]:
    """The grid for this task set: ``--only`` keeps the conditions named (exactly); conditions
    that need a split the task set lacks (``train_pool``) or an option it does not take (``pool``) are left out."""
    from rememberer.tasks import load_task_set
    from rememberer.tasks.options import task_options as options_of

    splits = load_task_set(args.task).splits
    accepted = options_of(args.task)
    chosen = []
    for condition in conditions(args.ps, pool_goals=getattr(args, "pool_goals", 50), task=args.task):
        if condition.train_split and condition.train_split not in splits:
            continue
        if any(key not in accepted for key in condition.task_options):
            continue
        only = getattr(args, "only", None)
        if only and condition.name not in only:
            continue
        if not only and condition.group in EXTRA_GROUPS and not getattr(args, "all", False):
            continue
        chosen.append(condition)
    return chosen


def transfer(args: argparse.Namespace) -> dict[str, Any]:
    """Run the grid; ``transfer.json`` is rewritten after every run, so an interrupted grid keeps
    what it finished (every condition of the seeds done so far, then the runs of the next seed).
    Run again into the same ``--out``, it reuses the finished runs and resumes the unfinished one."""
    import os

    from rememberer.nodes.local_llm import cpu_summary

    root = Path(args.out)
    root.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    grid = selected_conditions(args)
    total, started = len(grid) * len(args.seeds), time.perf_counter()
    version = _code_version()  # the code this process loaded (the tree may change while the grid runs)

    def save() -> dict[str, Any]:
        table = []
        for condition in grid:
            mine = [r for r in rows if r["condition"] == condition.name]
            if not mine:
                continue
            table.append({"condition": condition.name, "success": interval([r["test_success"] for r in mine]),
                          "reward": interval([r["test_reward"] for r in mine]),
                          "train_solved": interval([r["train_solved_so_far"] for r in mine if r["train_solved_so_far"] is not None])})
        result = {"args": {"argv": list(getattr(args, "argv", []) or [])},
                  "machine": f"{cpu_summary()}, load average {os.getloadavg()[0]:.1f} at the end",
                  "task": args.task, "model": getattr(args, "model", None) or "scripted:p=P (controlled policy)",
                  "seeds": args.seeds, "train_goals": args.train_goals, "epochs": args.epochs,
                  "test_goals": args.test_goals, "max_steps": args.max_steps, "code_version": version,
                  **({"splits": [args.train_split, args.test_split]} if args.task in TASK_GRIDS else {}),
                  "complete": len(rows) == total, "out_dir": str(root), "rows": rows, "table": table}
        tmp = root / "transfer.json.tmp"
        tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, root / "transfer.json")
        return result

    reused: list[str] = []
    for seed in args.seeds:  # seed by seed: an interrupted grid holds every condition of the seeds it finished
        for condition in grid:
            row = run_condition(condition, seed, args, root, reused)
            rows.append(row)
            save()
            if reused and reused[-1] == row["run_id"]:
                when = "reused"
            else:  # the ETA counts only the runs made here, not the reused ones
                eta = (time.perf_counter() - started) / (len(rows) - len(reused)) * (total - len(rows))
                when = f"ETA {eta / 60:.0f} min"
            print(f"[{len(rows)}/{total}, {when}] {condition.name} · seed {seed}: test success "
                  f"{row['test_success']:.1%} ({row['wall_seconds']} s, {row['memory_records']} records)", flush=True)
    result = save()
    (root / "transfer.md").write_text(markdown(result), encoding="utf-8")
    if getattr(args, "doc", None):
        from rememberer.results import write

        write([args.out], args.doc)
    print(markdown(result))
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"Task set `{result['task']}`: memory trained on {result['train_goals']} training goals × {result['epochs']} epochs, "
        f"then {result['test_goals']} unseen test goals with the memory frozen; step cap {result['max_steps']}; "
        f"seeds {', '.join(map(str, result['seeds']))}; code {result['code_version']}. Mean ± 95 % t-interval over seeds.",
        "",
        "| condition | test success | test reward | training goals solved by the last epoch |",
        "|---|---|---|---|",
    ]
    for row in result["table"]:
        s, r, t = row["success"], row["reward"], row["train_solved"]
        train = f"{t['mean']:.0%} ± {t['ci95']:.0%}" if t["n"] else "–"
        lines.append(f"| {row['condition']} | {s['mean']:.1%} ± {s['ci95']:.1%} | {r['mean']:.3f} ± {r['ci95']:.3f} | {train} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rememberer.experiments", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("transfer", help="controlled-policy transfer experiment (see the module docstring)")
    t.add_argument("--task", default="textcraft")
    t.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    t.add_argument("--ps", type=float, nargs="+", default=[0.5, 0.9, 1.0])
    t.add_argument("--train-goals", type=int, default=10)
    t.add_argument("--epochs", type=int, default=3)
    t.add_argument("--test-goals", type=int, default=100)
    t.add_argument("--train-split", default="train")
    t.add_argument("--test-split", default="test")
    t.add_argument("--max-steps", type=int, default=15)
    t.add_argument("--out", default="results/transfer")
    t.add_argument("--model", default=None, help="a model spec instead of the controlled policy (e.g. local); p is then unused")
    t.add_argument("--all", action="store_true", help="also the p sweep of the design and the training-goals curve")
    t.add_argument("--pool-goals", type=int, default=50, help="training goals of the train_pool condition")
    t.add_argument("--only", nargs="+", default=None, help="run only the conditions with these names (quote each)")
    t.add_argument("--doc", default=None, help="also (re)write this results document, e.g. docs/results.md")
    t.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE",
                   help="an option of the task set's loader, repeatable (ScienceWorld: valid_actions is on by default)")
    d = sub.add_parser("doc", help="regenerate the results document from experiment outputs")
    d.add_argument("out_dirs", nargs="+", help="directories written by `transfer --out`")
    d.add_argument("--doc", default="docs/results.md")
    args = parser.parse_args(argv)
    if args.command == "doc":
        from rememberer.results import write

        print(f"wrote {write(args.out_dirs, args.doc)}")
        return 0
    args.argv = list(argv if argv is not None else __import__("sys").argv[1:])
    if args.only:
        known = [c.name for c in conditions(args.ps, pool_goals=args.pool_goals, task=args.task)]
        unknown = [name for name in args.only if name not in known]
        if unknown:
            parser.error(f"unknown condition(s) {unknown}; known: {known}")
    transfer(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
