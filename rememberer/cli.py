"""Command line: ``rememberer run | train | eval | memory | tasks``.

``run`` is the main job (train, then evaluate with the memory frozen) with defaults small
enough to finish in about ten minutes on two cores with the embedded model; ``train`` and
``eval`` default to the paper's protocol (10 training goals × 3 epochs, 100 test goals).
Errors are one line on stderr and exit code 2; there are no tracebacks for user mistakes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

QUICK = {"train_goals": 4, "epochs": 3, "test_goals": 6, "max_steps": 12}
"""Defaults of ``run`` (the ten-minute main job); goal counts are clamped to the split sizes and
the step cap to the task set's own, so they are valid for every task set. ``train`` and ``eval``
default to the paper's protocol (the RunSettings defaults: 10 goals × 3 epochs, 100 test goals)."""


def _add_common(p: argparse.ArgumentParser, command: str, defaults: dict[str, Any] | None = None) -> None:
    from rememberer.runner import RunSettings
    from rememberer.settings import add_settings_arguments

    add_settings_arguments(p, RunSettings, command, defaults)
    g = p.add_argument_group("task set options")
    g.add_argument("--webshop-data", default=None, help="WebShop data directory (default: ../shared/data/webshop or $REMEMBERER_WEBSHOP_DATA)")
    g.add_argument("--pool", default=None, help="initial experience pool of the task set (WebShop: E0, E1, E2)")


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``rememberer: error: …``, exit 2), like every other error."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"rememberer: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="rememberer", description="REMEMBERER/RLEM: a frozen LLM that learns from an experience memory.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train, then evaluate with frozen memory (the main job)")
    _add_common(run, "run", QUICK)
    run.add_argument("--baseline", action="store_true", help="also evaluate without memory (same model, same goals)")
    train = sub.add_parser("train", help="training epochs with memory updates")
    _add_common(train, "train")
    ev = sub.add_parser("eval", help="evaluate on test goals with the memory frozen")
    _add_common(ev, "eval")
    mem = sub.add_parser("memory", help="inspect or export an experience memory")
    mem.add_argument("action", choices=["stats", "show", "export"])
    mem.add_argument("--task", default="textcraft")
    mem.add_argument("--memory-dir", default=os.environ.get("REMEMBERER_MEMORY_DIR", ".rememberer/memory"))
    mem.add_argument("--webshop-data", default=None)
    mem.add_argument("--goal", default=None, help="show: only records whose task mentions this text")
    mem.add_argument("--limit", type=int, default=10)
    mem.add_argument("--out", default="memory-export.json", help="export: output JSON file")
    tasks = sub.add_parser("tasks", help="list task sets and their splits")
    tasks.add_argument("--webshop-data", default=None)
    return parser


def _task_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if getattr(args, "task", None) == "webshop":
        if args.webshop_data:
            options["data_dir"] = args.webshop_data
        if getattr(args, "pool", None):
            options["pool"] = args.pool
    return options


def _settings(args: argparse.Namespace):
    """RunSettings from the flags; every bad value is rejected here, before any work starts."""
    from rememberer.runner import RunSettings
    from rememberer.settings import settings_from_args

    settings = settings_from_args(RunSettings, args, args.command, task_options=_task_options(args))
    if settings.epochs < 1 and args.command != "eval":
        raise ValueError("--epochs must be at least 1")
    return settings


def _apply_defaults(args: argparse.Namespace, settings, tasks) -> None:
    """Fit the defaults the user did not override to the task set: ``run``'s small ones, and
    never more goals than a split has (the paper's 100 test goals become the whole split of a
    smaller task set), never a longer quick step cap than the task set's own. Explicit values
    are kept and checked by :func:`_pick`."""
    from rememberer.settings import given

    quick = args.command == "run"
    sizes = {"train_goals": len(tasks.goals(settings.train_split)), "test_goals": len(tasks.goals(settings.test_split))}
    for name, size in sizes.items():
        if not given(args, name):
            setattr(settings, name, min(QUICK[name] if quick else getattr(settings, name), size))
    if quick and not given(args, "epochs"):
        settings.epochs = QUICK["epochs"]
    if quick and not given(args, "max_steps"):
        settings.max_steps = min(QUICK["max_steps"], tasks.max_steps)


def _pick(goals: tuple[str, ...], n: int, split: str) -> list[str]:
    if n < 0:
        raise ValueError("goal counts must be ≥ 0")
    if n > len(goals):
        raise ValueError(f"split {split!r} has only {len(goals)} goals (asked for {n})")
    return list(goals[:n])


def progress_columns() -> tuple:
    """Phase, bar, done/total, elapsed, ETA, then the running score, which is the column that
    gives way (ellipsis) on narrow terminals: the counts and times stay readable at 80 columns."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
    from rich.table import Column

    return (
        TextColumn("{task.description}", table_column=Column(width=8, no_wrap=True, overflow="ellipsis")),
        BarColumn(bar_width=14),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA", style="progress.remaining"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=28)),
    )


def episode_status(wins: int, played: int, result) -> str:
    return f"solved {wins}/{played} · {result.goal_id} {result.steps} st"


def _run_protocol(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from rememberer.runner import Run
    from rememberer.tasks import load_task_set

    console = Console(stderr=True)
    settings = _settings(args)  # every flag checked before anything is loaded
    started = time.perf_counter()
    tasks = load_task_set(settings.task_set, **settings.task_options)
    _apply_defaults(args, settings, tasks)
    do_train = args.command in ("run", "train")
    do_eval = args.command in ("run", "eval")
    train_goals = _pick(tasks.goals(settings.train_split), settings.train_goals, settings.train_split) if do_train else []
    test_goals = _pick(tasks.goals(settings.test_split), settings.test_goals, settings.test_split) if do_eval else []
    with console.status("loading model, memory and task set…"):
        run = Run(settings, task_set=tasks)
    console.print(
        f"run [bold]{run.run_id}[/] · task {tasks.name} · model {settings.model} · memory {run.memory.path} "
        f"({len(run.memory)} records) · step cap {run.step_cap}"
    )
    with Progress(*progress_columns(), console=console) as progress:
        def tracker(label: str, total: int):
            bar = progress.add_task(label, total=total, status="")
            wins = [0, 0]

            def update(result) -> None:
                wins[0] += result.success
                wins[1] += 1
                progress.update(bar, advance=1, status=episode_status(wins[0], wins[1], result))

            return bar, update

        if train_goals:
            bar, update = tracker("train", len(train_goals) * settings.epochs)

            def on_train(result) -> None:
                update(result)
                if result.epoch == 0 and result.success and settings.drop_solved and settings.epochs > 1:
                    progress.update(bar, total=progress.tasks[bar].total - (settings.epochs - 1))

            run.train(train_goals, settings.epochs, on_train)
        if test_goals:
            _, update = tracker("eval" if settings.use_memory else "baseline", len(test_goals))
            run.evaluate(test_goals, update, phase="eval" if settings.use_memory else "baseline")
            if getattr(args, "baseline", False):
                _, update = tracker("baseline", len(test_goals))
                run.context.use_memory = False
                run.evaluate(test_goals, update, phase="baseline")
                run.context.use_memory = True
    summary = run.summary(time.perf_counter() - started)
    _print_summary(summary)
    return 0


def _print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"rememberer · {summary['task_set']} · {summary['model_id']}",
        caption="train N (x%): epoch N, with x% of the training goals solved so far" if summary["train_epochs"] else None,
    )
    for column in ("phase", "eps", "success", "reward", "steps", "no-ops", "tokens", "wall s"):
        table.add_column(column, justify="right" if column != "phase" else "left", no_wrap=column == "phase")
    rows = [(f"train {int(e) + 1} ({b['solved_so_far']:.0%})", b) for e, b in summary["train_epochs"].items()]
    rows += [(p, b) for p, b in summary["phases"].items() if p != "train"]
    for name, b in rows:
        table.add_row(
            name, str(b["episodes"]), f"{b['success_rate']:.0%}", f"{b['mean_reward']:.3f}", f"{b['mean_steps']}",
            str(b["fallback_steps"]), f"{b['prompt_tokens'] + b['completion_tokens']:,}", f"{b['wall_seconds']}",
        )
    console = Console()
    console.print(table)
    m = summary["memory"]
    console.print(
        f"memory: {m['records']} records ({m['pinned']} annotated, {m['positive_q_records']} with a positive Q, "
        f"{m['mean_actions_per_record']:.1f} actions each) at {summary['memory_dir']}"
    )
    console.print(f"run directory: {summary['run_dir']} · total wall time {summary['wall_seconds']} s")


def _memory_command(args: argparse.Namespace) -> int:
    import json

    from rich.console import Console
    from rich.markup import escape

    from rememberer.memory import ExperienceMemory
    from rememberer.tasks import load_task_set

    tasks = load_task_set(args.task, **_task_options(args))
    if not os.path.isdir(args.memory_dir):
        raise FileNotFoundError(f"no memory at {args.memory_dir}")
    memory = ExperienceMemory(args.memory_dir, namespace=tasks.name, observation_similarity=tasks.observation_similarity, task_weight=tasks.task_weight)
    console = Console()
    if args.action == "stats":
        console.print_json(json.dumps({"path": str(memory.path), "namespace": memory.namespace, **memory.stats()}))
    elif args.action == "export":
        count = memory.export(args.out)
        console.print(f"exported {count} records to {args.out}")
    else:
        shown = 0
        for record in memory.records():
            if args.goal and args.goal.lower() not in record.task.lower():
                continue
            first_line = (record.observation.splitlines() or [""])[0][:80]
            console.print(f"[bold]{escape(record.task)}[/] | {escape(first_line)} (visits {record.visits}, {record.provenance.source})")
            for a in record.sorted_actions():
                console.print(f"   {a.q:5.2f}  n={a.visits:<3} {escape(a.action)}  [dim]{escape(a.reason[:60])}[/]")
            shown += 1
            if shown >= args.limit:
                break
    return 0


def _tasks_command(args: argparse.Namespace) -> int:
    from rememberer.tasks import TASK_SETS, TaskError, load_task_set

    for name in TASK_SETS:
        try:
            tasks = load_task_set(name, **({"data_dir": args.webshop_data} if name == "webshop" and args.webshop_data else {}))
        except TaskError as exc:
            print(f"{name}: unavailable ({exc})")
            continue
        splits = ", ".join(f"{k} ({len(v)})" for k, v in tasks.splits.items())
        print(f"{name}: {tasks.description}\n  splits: {splits}; step cap {tasks.max_steps}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from rememberer.memory import MemoryStoreError
    from rememberer.memory.records import CorruptRecordError
    from rememberer.nodes.models import ModelUnavailableError
    from rememberer.tasks import TaskError

    try:
        if args.command == "memory":
            return _memory_command(args)
        if args.command == "tasks":
            return _tasks_command(args)
        return _run_protocol(args)
    except (TaskError, MemoryStoreError, CorruptRecordError, ModelUnavailableError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"rememberer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rememberer: interrupted; finished episodes are in the run directory", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
