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

PAPER = {"train_goals": 10, "epochs": 3, "test_goals": 100}
QUICK = {"train_goals": 4, "epochs": 3, "test_goals": 6, "max_steps": 12}


def _add_common(p: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    g = p.add_argument_group("task and model")
    g.add_argument("--task", default="textcraft", help="task set: textcraft (default), webshop, chain")
    g.add_argument("--model", default=os.environ.get("REMEMBERER_MODEL", "local"),
                   help="local (embedded Gemma-3-270M), local:PATH.gguf, openai:MODEL, openai-completion:MODEL")
    g.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL"), help="OpenAI-compatible endpoint URL")
    g.add_argument("--api-key", default=None, help="endpoint key (default: $OPENAI_API_KEY)")
    g.add_argument("--webshop-data", default=None, help="WebShop data directory (default: ../shared/data/webshop or $REMEMBERER_WEBSHOP_DATA)")
    g.add_argument("--pool", default=None, help="initial experience pool of the task set (WebShop: E0, E1, E2)")
    m = p.add_argument_group("memory and learning")
    m.add_argument("--memory-dir", default=os.environ.get("REMEMBERER_MEMORY_DIR", ".rememberer/memory"),
                   help="Chroma directory of the experience memory (shared across runs)")
    m.add_argument("--gamma", type=float, default=1.0, help="discount γ (default 1.0, as released)")
    m.add_argument("--update-mode", choices=["mean", "const"], default="mean", help="α = 1/N (mean) or constant")
    m.add_argument("--learning-rate", type=float, default=0.1, help="α for --update-mode const")
    m.add_argument("--n-step", type=int, default=None, help="n-step bootstrapping (default: Monte-Carlo return)")
    m.add_argument("--no-random-advice", dest="random_advice", action="store_false", help="ablation: no random advice")
    r = p.add_argument_group("protocol")
    r.add_argument("--train-goals", type=int, default=defaults.get("train_goals", PAPER["train_goals"]), help="number of training goals (from the train split)")
    r.add_argument("--epochs", type=int, default=defaults.get("epochs", PAPER["epochs"]))
    r.add_argument("--test-goals", type=int, default=defaults.get("test_goals", PAPER["test_goals"]), help="number of test goals (from the test split)")
    r.add_argument("--train-split", default="train")
    r.add_argument("--test-split", default="test")
    r.add_argument("--keep-solved", dest="drop_solved", action="store_false", help="replay solved goals in later epochs")
    r.add_argument("--max-steps", type=int, default=defaults.get("max_steps"), help="step cap per episode (default: the task set's)")
    r.add_argument("--top-m", type=int, default=2, help="exemplars per prompt")
    r.add_argument("--token-budget", type=int, default=1800, help="tokens for exemplars")
    r.add_argument("--history", type=int, default=5, help="previous actions shown")
    r.add_argument("--decoding", choices=["auto", "generate", "rank"], default="auto",
                   help="generate: the model writes 'action -> Q' lines (the paper's protocol); rank: log-prob of each "
                   "valid action + advised Q (in-process model); auto (default): rank for the in-process model, else generate")
    r.add_argument("--advice-weight", type=float, default=5.0, help="weight of the advised Q in rank decoding")
    r.add_argument("--temperature", type=float, default=0.0)
    r.add_argument("--max-tokens", type=int, default=96, help="tokens per model answer")
    r.add_argument("--seed", type=int, default=0)
    o = p.add_argument_group("output")
    o.add_argument("--runs-dir", default="runs", help="where run directories are created")
    o.add_argument("--run-name", default=None)
    o.add_argument("--resume", metavar="RUN", default=None,
                   help="continue the interrupted run RUN in --runs-dir with its saved settings (finished episodes are kept, never replayed)")
    o.add_argument("--save-prompts", action="store_true", help="keep full prompts in trajectories.jsonl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rememberer", description="REMEMBERER/RLEM: a frozen LLM that learns from an experience memory.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="train, then evaluate with frozen memory (the main job)")
    _add_common(run, QUICK)
    run.add_argument("--baseline", action="store_true", help="also evaluate without memory (same model, same goals)")
    train = sub.add_parser("train", help="training epochs with memory updates")
    _add_common(train, PAPER)
    ev = sub.add_parser("eval", help="evaluate on test goals with the memory frozen")
    _add_common(ev, PAPER)
    ev.add_argument("--no-memory", dest="use_memory", action="store_false", help="baseline: no exemplars at all")
    mem = sub.add_parser("memory", help="inspect or export an experience memory")
    mem.add_argument("action", choices=["stats", "show", "export", "repair"],
                     help="stats, show and export open the memory read-only; repair moves undecodable records to quarantine/")
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
    from rememberer.runner import RunSettings

    if args.epochs < 1 and args.command != "eval":
        raise ValueError("--epochs must be at least 1")
    return RunSettings(
        task_set=args.task, model=args.model, base_url=args.base_url, api_key=args.api_key,
        memory_dir=args.memory_dir, runs_dir=args.runs_dir, run_name=args.run_name,
        train_split=args.train_split, test_split=args.test_split, train_goals=args.train_goals,
        test_goals=args.test_goals, epochs=args.epochs, drop_solved=args.drop_solved,
        use_memory=getattr(args, "use_memory", True), max_steps=args.max_steps, top_m=args.top_m,
        token_budget=args.token_budget, history_length=args.history, gamma=args.gamma,
        update_mode=args.update_mode, learning_rate=args.learning_rate, n_step=args.n_step,
        random_advice=args.random_advice, decoding=args.decoding, advice_weight=args.advice_weight,
        temperature=args.temperature, max_tokens=args.max_tokens,
        seed=args.seed, save_prompts=args.save_prompts, task_options=_task_options(args),
    )


def _pick(goals: tuple[str, ...], n: int, split: str) -> list[str]:
    if n < 0:
        raise ValueError("goal counts must be ≥ 0")
    if n > len(goals):
        raise ValueError(f"split {split!r} has only {len(goals)} goals (asked for {n})")
    return list(goals[:n])


def _run_protocol(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from rememberer.runner import Run

    console = Console(stderr=True)
    resume = getattr(args, "resume", None)
    settings = Run.saved_settings(args.runs_dir, resume, api_key=args.api_key) if resume else _settings(args)
    started = time.perf_counter()
    with console.status("loading model, memory and task set…"):
        run = Run(settings, resume=bool(resume))
    tasks = run.tasks
    do_train = args.command in ("run", "train")
    do_eval = args.command in ("run", "eval")
    train_goals = _pick(tasks.goals(settings.train_split), settings.train_goals, settings.train_split) if do_train else []
    test_goals = _pick(tasks.goals(settings.test_split), settings.test_goals, settings.test_split) if do_eval else []
    console.print(
        f"run [bold]{run.run_id}[/] · task {tasks.name} · model {settings.model} · memory {run.memory.path} "
        f"({len(run.memory)} records) · step cap {run.step_cap}"
    )
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        def tracker(label: str, total: int):
            bar = progress.add_task(label, total=total, status="")
            wins = [0, 0]

            def update(result) -> None:
                wins[0] += result.success
                wins[1] += 1
                progress.update(bar, advance=1, status=f"solved {wins[0]}/{wins[1]} · last {result.goal_id!r} in {result.steps} steps")

            return bar, update

        if train_goals:
            bar, update = tracker("train", len(train_goals) * settings.epochs)

            def on_train(result) -> None:
                update(result)
                if result.epoch == 0 and result.success and settings.drop_solved and settings.epochs > 1:
                    progress.update(bar, total=progress.tasks[bar].total - (settings.epochs - 1))

            run.train(train_goals, settings.epochs, on_train)
        if test_goals:
            _, update = tracker("eval (frozen memory)" if settings.use_memory else "eval (no memory)", len(test_goals))
            run.evaluate(test_goals, update, phase="eval" if settings.use_memory else "baseline")
            if getattr(args, "baseline", False):
                _, update = tracker("baseline (no memory)", len(test_goals))
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

    from rememberer.memory import ExperienceMemory, MemoryReader
    from rememberer.tasks import load_task_set

    tasks = load_task_set(args.task, **_task_options(args))
    if not os.path.isdir(args.memory_dir):
        raise FileNotFoundError(f"no memory at {args.memory_dir}")
    console = Console()
    if args.action == "repair":
        memory = ExperienceMemory(args.memory_dir, namespace=tasks.name, observation_similarity=tasks.observation_similarity, task_weight=tasks.task_weight)
        console.print_json(json.dumps(memory.repair()))
        return 0
    memory = MemoryReader(args.memory_dir, namespace=tasks.name)  # read-only: never writes a file
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
    if memory.skipped:
        print(f"rememberer: warning: skipped {len(memory.skipped)} corrupt records; `rememberer memory repair` quarantines them", file=sys.stderr)
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
