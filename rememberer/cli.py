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
    p.add_argument("--resume", metavar="RUN", default=None,
                   help="continue the interrupted run RUN in --runs-dir with its saved settings (finished episodes are kept, never replayed)")


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
    mem = sub.add_parser("memory", help="look at, search, edit and clean an experience memory")
    _add_memory_commands(mem)
    rep = sub.add_parser("report", help="write a self-contained HTML report of a run directory")
    rep.add_argument("run_dir")
    rep.add_argument("--out", default=None, help="output file (default: RUN_DIR/report.html)")
    tasks = sub.add_parser("tasks", help="list task sets, their splits and their options (--task-option KEY=VALUE)")
    tasks.add_argument("--webshop-data", default=None)
    return parser


def _options_field():
    from dataclasses import fields

    from rememberer.runner import RunSettings

    return next(f for f in fields(RunSettings) if f.name == "task_options")


def _memory_task_options(args: argparse.Namespace) -> dict[str, Any]:
    """``--task-option`` / ``--webshop-data`` of a memory command, typed and checked like a run's."""
    from rememberer.settings import mapping_from_args
    from rememberer.tasks.options import check_task_options

    return check_task_options(args.task, mapping_from_args(_options_field(), args, args.task) or {})


def _settings(args: argparse.Namespace):
    """RunSettings from the flags; every bad value is rejected here, before any work starts."""
    from rememberer.runner import RunSettings
    from rememberer.settings import settings_from_args

    settings = settings_from_args(RunSettings, args, args.command)
    if settings.epochs < 1 and args.command != "eval":
        raise ValueError(f"epochs (--epochs) must be ≥ 1 for {args.command}, got {settings.epochs}")
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


def _pick(goals: tuple[str, ...], n: int, split: str, name: str) -> list[str]:
    flag = "--" + name.replace("_", "-")
    if n < 0:
        raise ValueError(f"{name} ({flag}) must be ≥ 0, got {n}")
    if n > len(goals):
        raise ValueError(f"{name} ({flag}): split {split!r} has only {len(goals)} goals (asked for {n})")
    return list(goals[:n])


def eta_seconds(*, total: float | None, completed: float, finished_steps: int, running_steps: int, step_cap: int,
                elapsed: float | None) -> float | None:
    """Seconds left in a phase, counted in steps, the running episodes' steps included: time per
    step so far × the steps still expected (episodes left × the mean steps of the finished ones,
    or the step cap before one has finished, less the steps the running ones already took).
    None ("estimating") before the first step."""
    done = finished_steps + running_steps
    if not done or not elapsed or total is None:
        return None
    mean = finished_steps / completed if completed else step_cap
    remaining = max((total - completed) * mean - running_steps, 0.0)
    return remaining * elapsed / done


def _eta_column():
    from rich.progress import ProgressColumn
    from rich.text import Text

    class StepEtaColumn(ProgressColumn):
        """"ETA h:mm:ss" from steps (see :func:`eta_seconds`), "ETA estimating" before the first step."""

        def render(self, task) -> Text:
            if task.finished:
                return Text("ETA 0:00:00", style="progress.remaining")
            f = task.fields
            seconds = eta_seconds(total=task.total, completed=task.completed, finished_steps=f.get("finished_steps", 0),
                                  running_steps=sum(f.get("running", {}).values()), step_cap=f.get("step_cap", 1),
                                  elapsed=task.elapsed)
            if seconds is None:
                return Text("ETA estimating", style="progress.remaining")
            minutes, secs = divmod(int(round(seconds)), 60)
            hours, minutes = divmod(minutes, 60)
            return Text(f"ETA {hours}:{minutes:02d}:{secs:02d}", style="progress.remaining")

    return StepEtaColumn()


def progress_columns() -> tuple:
    """Phase, bar, done/total, elapsed, ETA, then the running score, which is the column that
    gives way (ellipsis) on narrow terminals: the counts and times stay readable at 80 columns."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.table import Column

    return (
        TextColumn("{task.description}", table_column=Column(width=8, no_wrap=True, overflow="ellipsis")),
        BarColumn(bar_width=12),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        _eta_column(),
        TextColumn("{task.fields[status]}", table_column=Column(no_wrap=True, overflow="ellipsis", max_width=28)),
    )


class PhaseProgress:
    """One progress bar of a phase, fed by the runner: ``step`` while an episode runs,
    ``episode`` when it has finished (the bar, the running score and the step-based ETA)."""

    def __init__(self, progress, label: str, total: int, step_cap: int):
        self.progress = progress
        self.bar = progress.add_task(label, total=total, status="", finished_steps=0, running={}, step_cap=step_cap)
        self.wins = self.played = self.finished_steps = 0
        self.running: dict[str, int] = {}

    def step(self, episode_id: str, steps: int) -> None:
        self.running[episode_id] = steps
        self.progress.update(self.bar, running=dict(self.running))

    def episode(self, result) -> None:
        self.running.pop(result.episode_id, None)
        self.wins += result.success
        self.played += 1
        self.finished_steps += result.steps
        self.progress.update(self.bar, advance=1, finished_steps=self.finished_steps, running=dict(self.running),
                             status=episode_status(self.wins, self.played, result))


def episode_status(wins: int, played: int, result) -> str:
    return f"solved {wins}/{played} · {result.goal_id} {result.steps} st"


def _run_protocol(args: argparse.Namespace) -> int:
    from rich.console import Console

    from rememberer.runner import Run
    from rememberer.tasks import load_task_set

    console = Console(stderr=True)
    resume = getattr(args, "resume", None)
    if resume:
        settings = Run.saved_settings(args.runs_dir, resume, api_key=getattr(args, "api_key", None))
    else:
        settings = _settings(args)  # every flag checked before anything is loaded
    started = time.perf_counter()
    tasks = load_task_set(settings.task_set, **settings.task_options)
    if not resume:
        _apply_defaults(args, settings, tasks)
    do_train = args.command in ("run", "train")
    do_eval = args.command in ("run", "eval")
    train_goals = _pick(tasks.goals(settings.train_split), settings.train_goals, settings.train_split, "train_goals") if do_train else []
    test_goals = _pick(tasks.goals(settings.test_split), settings.test_goals, settings.test_split, "test_goals") if do_eval else []
    with console.status("loading model, memory and task set…"):
        if settings.ray:
            from rememberer.distributed import RayRun

            run = RayRun(settings, task_set=tasks, resume=bool(resume))
        else:
            run = Run(settings, task_set=tasks, resume=bool(resume))
    try:
        return _play_protocol(args, run, settings, tasks, train_goals, test_goals, console, started)
    finally:
        if hasattr(run, "close"):
            run.close()


def _play_protocol(args, run, settings, tasks, train_goals, test_goals, console, started) -> int:
    from rich.console import Console
    from rich.progress import Progress

    console.print(
        f"run [bold]{run.run_id}[/] · task {tasks.name} · model {settings.model} · memory {run.memory.path or run.memory.url} "
        f"({len(run.memory)} records) · step cap {run.step_cap}"
    )
    with Progress(*progress_columns(), console=console) as progress:
        if train_goals:
            phase = PhaseProgress(progress, "train", len(train_goals) * settings.epochs, run.step_cap)
            run.on_step = phase.step

            def on_train(result) -> None:
                phase.episode(result)
                if result.epoch == 0 and result.success and settings.drop_solved and settings.epochs > 1:
                    progress.update(phase.bar, total=progress.tasks[phase.bar].total - (settings.epochs - 1))

            run.train(train_goals, settings.epochs, on_train, concurrency=settings.concurrency)
        if test_goals:
            phase = PhaseProgress(progress, "eval" if settings.use_memory else "baseline", len(test_goals), run.step_cap)
            run.on_step = phase.step
            run.evaluate(test_goals, phase.episode, phase="eval" if settings.use_memory else "baseline",
                         concurrency=settings.concurrency)
            if getattr(args, "baseline", False):
                phase = PhaseProgress(progress, "baseline", len(test_goals), run.step_cap)
                run.on_step = phase.step
                run.context.use_memory = False
                run.evaluate(test_goals, phase.episode, phase="baseline", concurrency=settings.concurrency)
                run.context.use_memory = True
        run.on_step = None
    summary = run.summary(time.perf_counter() - started)
    _print_summary(summary)
    from rememberer.report import run_report

    Console().print(f"report: {run_report(run.directory, memory=run.memory)}")
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


def _add_memory_commands(mem: argparse.ArgumentParser) -> None:
    common = _Parser(add_help=False)
    common.add_argument("--task", default="textcraft", help="task set whose memory to open (default: textcraft)")
    common.add_argument("--namespace", default=None, help="memory namespace (default: the task set name, plus "
                        "'.<scheme>' for goal-relative keys, e.g. textcraft.roles)")
    common.add_argument("--keys", dest="memory_keys", choices=["goal-relative", "verbatim"], default="goal-relative",
                        help="which memory of the task set: goal-relative keys (default) or verbatim (the paper's)")
    from rememberer.graph.context import AgentKnobs
    from rememberer.settings import add_field_arguments, add_mapping_arguments

    add_field_arguments(common, AgentKnobs, MEMORY_LOCATION)  # the same flags, env and checks as train/eval

    add_mapping_arguments(common, _options_field())
    common.add_argument("--json", action="store_true", help="machine-readable output")
    ops = mem.add_subparsers(dest="action", required=True, metavar="ACTION")
    ops.add_parser("stats", parents=[common], help="counts, Q distribution, sources and runs")
    p = ops.add_parser("list", parents=[common], help="records as a table")
    p.add_argument("--goal", "--contains", dest="contains", default=None, help="only records whose task or observation contains this text")
    p.add_argument("--sort", choices=["updated", "visits", "q", "task"], default="updated")
    p.add_argument("--limit", type=int, default=20)
    p = ops.add_parser("show", parents=[common], help="one record with its actions and provenance (id prefix), or the first matches of --goal")
    p.add_argument("record_id", nargs="?", default=None)
    p.add_argument("--goal", dest="contains", default=None)
    p.add_argument("--limit", type=int, default=5)
    p = ops.add_parser("search", parents=[common], help="records by meaning (task and observation)")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="how many (default 10)")
    p = ops.add_parser("edit", parents=[common], help="set an action's Q and/or reason (recorded as an edit)")
    p.add_argument("record_id")
    p.add_argument("action_text", metavar="ACTION", help="the action, exactly as stored")
    p.add_argument("--q", type=float, default=None)
    p.add_argument("--reason", default=None)
    p.add_argument("--add", action="store_true", help="add the action if the record does not have it")
    p.add_argument("--editor", default=os.environ.get("USER", "cli"), help="who edits (kept in provenance)")
    p = ops.add_parser("delete", parents=[common], help="delete a record, or everything one run contributed")
    p.add_argument("record_id", nargs="?", default=None)
    p.add_argument("--run", dest="run_id", default=None, help="delete the records this run created (and no other touched)")
    p.add_argument("--dry-run", action="store_true")
    p = ops.add_parser("export", parents=[common], help="write every record to a JSON file")
    p.add_argument("--out", default="memory-export.json")
    p = ops.add_parser("import", parents=[common], help="load what export wrote (validated, all or nothing)")
    p.add_argument("file")
    p.add_argument("--replace", action="store_true", help="overwrite records with the same key")
    p = ops.add_parser("prune", parents=[common], help="delete records by age, visits or value (all given criteria must hold)")
    p.add_argument("--older-than-days", type=float, default=None)
    p.add_argument("--max-visits", type=int, default=None)
    p.add_argument("--max-q", type=float, default=None)
    p.add_argument("--include-pinned", action="store_true", help="also annotated pool records")
    p.add_argument("--dry-run", action="store_true")
    p = ops.add_parser("dedup", parents=[common], help="merge near-duplicate keys (see memory/tools.py:dedup for the rule)")
    p.add_argument("--threshold", type=float, default=0.98, help="observation similarity that counts as the same state")
    p.add_argument("--dry-run", action="store_true")
    ops.add_parser("repair", parents=[common], help="move undecodable records to quarantine/ (then delete them from the store)")
    p = ops.add_parser("report", parents=[common], help="a self-contained HTML page of the memory")
    p.add_argument("--out", default="memory-report.html")


def _short_time(ts: float) -> str:
    """``HH:MM`` for today, ``MM-DD`` before (a table column of 5 characters)."""
    from datetime import datetime

    when = datetime.fromtimestamp(ts)
    return when.strftime("%H:%M") if when.date() == datetime.now().date() else when.strftime("%m-%d")


MEMORY_LOCATION = ("memory_dir", "memory_url")
"""The settings fields that say where a memory is; ``rememberer memory`` takes them like ``train``."""

WRITING = {"edit", "delete", "import", "prune", "dedup", "repair"}
READ_ONLY = {"stats", "list", "show", "export"}


def _memory_command(args: argparse.Namespace) -> int:
    from rememberer.memory import MemoryStoreError

    try:
        return _memory_action(args)
    except MemoryStoreError as exc:
        if not exc.namespaces or args.namespace:
            raise
        raise MemoryStoreError(f"{exc}; open {_flags_for(exc.namespaces[0])}") from None


def _flags_for(namespace: str) -> str:
    """The memory command flags that open ``namespace`` (e.g. ``--task textcraft --keys verbatim``)."""
    from rememberer.tasks import TASK_SETS, TaskError, load_task_set

    task, _, scheme = namespace.partition(".")
    if task not in TASK_SETS:
        return f"it with --namespace {namespace}"
    flags = f"it with --task {task}"
    try:
        if not scheme and load_task_set(task).goal_keys is not None:
            flags += " --keys verbatim"
    except TaskError:
        pass
    return flags


def _memory_action(args: argparse.Namespace) -> int:
    import json
    from datetime import datetime

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from rememberer.memory import tools
    from rememberer.tasks import load_task_set

    from rememberer.graph.context import AgentKnobs
    from rememberer.settings import field_values

    where = field_values(AgentKnobs, args, MEMORY_LOCATION)  # --memory-url (or its env) wins, as in train/eval
    memory_dir, url = where["memory_dir"], where["memory_url"]
    tasks = load_task_set(args.task, **_memory_task_options(args))
    namespace = args.namespace or tasks.memory_namespace(args.memory_keys)
    similarity = tasks.similarity(args.memory_keys)
    if args.action == "repair":
        repaired = tools.open_memory(memory_dir, namespace, create=False, url=url,  # refuses a wrong --task or directory
                                     observation_similarity=similarity, task_weight=tasks.task_weight).repair()
        Console().print_json(json.dumps(repaired, default=str))
        return 0
    if args.action == "import":
        tools.read_export(args.file, namespace)  # refused before the memory is opened (or created)
    if args.action in READ_ONLY and url is None:
        # Straight from Chroma's SQLite file, opened read-only: these never write a byte.
        from types import SimpleNamespace

        from rememberer.memory import MemoryReader

        memory = MemoryReader(memory_dir, namespace=namespace)
        memory.embedder = SimpleNamespace(model_id=memory.embedding_model)
    else:
        # On a server, reads go through the client with no create and no write: an existing
        # collection is opened with get_collection, records are read with get.
        memory = tools.open_memory(memory_dir, namespace, create=args.action == "import", url=url,
                                   observation_similarity=similarity, task_weight=tasks.task_weight)
    console = Console()

    def emit(data) -> None:
        if args.json:
            console.print_json(json.dumps(data, default=str))
        elif isinstance(data, dict):  # an operation's report: one "key: value" line each, id lists shortened
            if data.get("dry_run"):
                console.print("dry run: nothing was changed; this is what would happen")
            for key, value in data.items():
                if key == "dry_run":
                    continue
                if isinstance(value, (list, tuple)):
                    shown = ", ".join(str(v)[:8] if key.endswith("ids") else str(v) for v in value[:6])
                    value = f"{len(value)}" + (f" ({shown}{', …' if len(value) > 6 else ''})" if value else "")
                console.print(f"{key.replace('_', ' ')}: {escape(str(value))}")
        else:
            console.print(data)

    def when(ts: float) -> str:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")

    def table(records, extra=None) -> Table:
        from rich import box

        # The text columns share what is left (ratio); ids, counts, Q, time and score keep their
        # full width, so nothing numeric is cut or squeezed out at 80 columns.
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, caption="* annotated (pinned) record" if any(r.pinned for r in records) else None)
        t.add_column("id", no_wrap=True)
        t.add_column("task", ratio=3, overflow="fold")
        t.add_column("observation", ratio=3, overflow="fold", min_width=11)
        t.add_column("n", justify="right", no_wrap=True)
        t.add_column("best action", ratio=2, overflow="fold")
        t.add_column("Q", justify="right", no_wrap=True, min_width=5)
        t.add_column("updated", no_wrap=True, min_width=5)
        if extra:
            t.add_column(extra[0], justify="right", no_wrap=True, min_width=5)
        for i, r in enumerate(records):
            best = r.sorted_actions()[0] if r.actions else None
            row = [r.id[:8] + ("*" if r.pinned else ""), escape(r.task), escape((r.observation.splitlines() or [""])[0][:80]),
                   str(r.visits), escape(best.action) if best else "-", f"{best.q:.2f}" if best else "-",
                   _short_time(r.provenance.updated_at)]
            if extra:
                row.append(extra[1][i])
            t.add_row(*row)
        return t

    def q_bars(histogram) -> Table:
        """One line per Q bin (range, count, bar): as readable at 80 columns as at 200."""
        from rich import box

        counts, edges = histogram["counts"], histogram["edges"]
        t = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, title="Q values of the stored actions", title_justify="left")
        t.add_column("Q", no_wrap=True)
        t.add_column("actions", justify="right", no_wrap=True)
        t.add_column("", no_wrap=True, overflow="crop")
        width = max(10, min(50, console.width - 24))
        top = max(counts) or 1
        for i, count in enumerate(counts):
            low, high = edges[i], edges[i + 1]
            label = f"< {high:.1f}" if i == 0 else f"≥ {low:.1f}" if i == len(counts) - 1 else f"{low:.1f}–{high:.1f}"
            t.add_row(label, str(count), "█" * max(1, round(width * count / top)) if count else "")
        return t

    def show(record) -> None:
        if args.json:
            return emit(tools.record_dict(record))
        console.print(f"[bold]{escape(record.task)}[/]  [dim]{record.id}[/]")
        console.print(escape(record.observation))
        t = Table("action", "Q", "visits", "mean reward", "reason")
        for a in record.sorted_actions():
            t.add_row(escape(a.action), f"{a.q:.3f}", str(a.visits), f"{a.mean_reward:.3f}", escape(a.reason))
        console.print(t)
        p = record.provenance
        console.print(f"visits {record.visits} · source {p.source}")  # two lines: each fits 80 columns
        console.print(f"created {when(p.created_at)} · updated {when(p.updated_at)}")
        console.print(f"runs: {', '.join(p.run_ids) or '-'} · models: {', '.join(p.models) or '-'}")
        if p.edits:
            console.print(f"edits: {', '.join(p.edits)}")

    action = args.action
    if action == "stats":
        data = tools.summary(memory)
        if args.json:
            emit(data)
        else:
            t = Table("", "", show_header=False)
            for key in ("path", "namespace", "embedding_model", "records", "tasks", "pinned", "edited_records", "actions", "visits",
                        "positive_q_records"):
                t.add_row(key, str(data[key]))
            t.add_row("sources", ", ".join(f"{k}: {v}" for k, v in data["sources"].items()) or "-")
            t.add_row("runs (records)", ", ".join(f"{k} ({v})" for k, v in list(data["runs"].items())[:5]) or "-")
            console.print(t)
            console.print(q_bars(data["q_histogram"]))
    elif action == "list":
        records = tools.list_records(memory, contains=args.contains, sort=args.sort, limit=args.limit)
        emit([tools.record_dict(r) for r in records]) if args.json else console.print(table(records))
    elif action == "show":
        if args.record_id:
            show(tools.find(memory, args.record_id))
        else:
            records = tools.list_records(memory, contains=args.contains, sort="visits", limit=args.limit)
            if args.json:
                emit([tools.record_dict(r) for r in records])
            else:
                for r in records:
                    show(r)
    elif action == "search":
        hits = tools.search(memory, args.query, k=args.k)
        if args.json:
            emit([h.as_dict() for h in hits])
        else:
            console.print(table([h.record for h in hits], ("score", [f"{h.score:.3f}" for h in hits])))
    elif action == "edit":
        record = tools.edit(memory, args.record_id, args.action_text, q=args.q, reason=args.reason, add=args.add, editor=args.editor)
        show(record)
    elif action == "delete":
        emit(tools.delete_records(memory, record_id=args.record_id, run_id=args.run_id, dry_run=args.dry_run))
    elif action == "export":
        count = memory.export(args.out)
        emit({"exported": count, "file": args.out}) if args.json else console.print(f"exported {count} records to {args.out}")
    elif action == "import":
        emit(tools.import_export(memory, args.file, replace=args.replace))
    elif action == "prune":
        emit(tools.prune(memory, older_than_days=args.older_than_days, max_visits=args.max_visits, max_q=args.max_q,
                         include_pinned=args.include_pinned, dry_run=args.dry_run))
    elif action == "dedup":
        emit(tools.dedup(memory, threshold=args.threshold, dry_run=args.dry_run))
    elif action == "report":
        from rememberer.report import memory_report

        out = memory_report(memory, args.out)
        emit({"report": str(out)}) if args.json else console.print(f"wrote {out}")
    return 0


def _tasks_command(args: argparse.Namespace) -> int:
    """Each task set: what it is, its splits and step cap (or why it is unavailable), and the
    options ``--task-option KEY=VALUE`` accepts (read from its loader's signature)."""
    import textwrap

    from rememberer.tasks import TASK_SETS, TaskError, load_task_set
    from rememberer.tasks.options import task_options

    for name in TASK_SETS:
        try:
            tasks = load_task_set(name, **({"data_dir": args.webshop_data} if name == "webshop" and args.webshop_data else {}))
        except TaskError as exc:
            print(f"{name}: unavailable here")
            print(textwrap.fill(str(exc), 100, initial_indent="  ", subsequent_indent="    "))
        else:
            splits = ", ".join(f"{k} ({len(v)})" for k, v in tasks.splits.items())
            print(f"{name}: {tasks.description}")
            print(textwrap.fill(f"splits: {splits}; step cap {tasks.max_steps}", 100, initial_indent="  ", subsequent_indent="    "))
        try:
            options = task_options(name)
        except ImportError as exc:  # an optional extra is missing
            print(f"  options: unknown ({exc})")
            continue
        if not options:
            print("  options: none")
            continue
        print("  options (--task-option KEY=VALUE):")
        for option in options.values():
            default = "" if option.default is None else f", default {option.default}"
            head = f"{option.name} ({option.kind.__name__}{default})"
            print(textwrap.fill(f"{head}: {option.description}" if option.description else head, 100,
                                initial_indent="    ", subsequent_indent="      "))
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
        if args.command == "report":
            from rememberer.report import run_report

            print(f"wrote {run_report(args.run_dir, args.out)}")
            return 0
        return _run_protocol(args)
    except (TaskError, MemoryStoreError, CorruptRecordError, ModelUnavailableError, FileNotFoundError, FileExistsError, ValueError) as exc:
        print(f"rememberer: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("rememberer: interrupted; finished episodes are in the run directory", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
