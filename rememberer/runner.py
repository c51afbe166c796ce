"""The training and evaluation protocol, and run directories.

``train``: K training goals × E epochs with RLEM updates; after the first epoch the goals
already solved are dropped, as in the paper. ``evaluate``: the test goals with the memory
frozen (or with memory disabled, for the baseline). ``run``: both, one run directory.

A run directory holds ``config.json`` (resolved settings, seeds, model id, memory location,
package versions), ``episodes.jsonl`` (one line per episode, appended as it finishes),
``trajectories.jsonl`` (the typed step records), ``summary.json``, ``summary.md`` and a
``learning_curve.png``. Episodes are independent: an environment crash is recorded as an
``error`` episode and the run goes on; an unreachable model aborts it.

Resume (``Run(settings, resume=True)``, ``rememberer train|run|eval --resume RUN``): every
episode runs on a LangGraph thread ``run:phase:epoch:goal`` checkpointed to
``checkpoints.sqlite`` in the run directory (SqliteSaver), and its ``episodes.jsonl`` line is
its commit record (fsynced; the checkpoint is dropped only after it). Resuming skips the
episodes that have a line, continues an interrupted episode from its last checkpoint (the
environment is rebuilt by replaying the executed actions; a backup node that was cut short
runs again with the same transition ids, which memory ignores if they were already applied),
and drops a torn last line. So a killed run, resumed, leaves the memory an uninterrupted run
would have left, and each completed episode is applied exactly once.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import sqlite3
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from langgraph.checkpoint.sqlite import SqliteSaver

from rememberer.graph import AgentContext, builder, recursion_limit, serializer
from rememberer.graph.context import AgentKnobs, knob
from rememberer.nodes import resources
from rememberer.nodes.models import ModelUnavailableError, model_file, model_id, probe
from rememberer.tasks import TaskError, TaskSet, load_task_set
from rememberer.tasks.sessions import EnvironmentSessions


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """The project's git commit (``+dirty`` with uncommitted changes), for a run's provenance.

    Read once per process, at the first call (a run or a grid makes it before playing): that is
    the code the process imported, even if the tree changes while a long grid runs."""
    here = Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5, cwd=here)
        if rev.returncode != 0 or not rev.stdout.strip():
            return "unknown (not a git checkout)"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                               timeout=10, cwd=here).stdout.strip()
        return rev.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"


@dataclass(kw_only=True)
class RunSettings(AgentKnobs):
    """Everything a run needs: the agent's knobs (declared once, in :class:`AgentKnobs`) plus
    the protocol. The CLI is derived from these fields (:mod:`rememberer.settings`); tests and
    notebooks build it directly. Bad values raise one-line ValueErrors at construction."""

    runs_dir: str = knob("runs", "Where run directories are created.")
    run_name: str | None = knob(None, "Name of the run directory (default: time stamp, task set and a random suffix).")
    train_split: str = knob("train", "Split the training goals come from.")
    test_split: str = knob("test", "Split the test goals come from.")
    train_goals: int = knob(10, "Number of training goals (the first of the train split).", ge=0)
    test_goals: int = knob(100, "Number of test goals (the first of the test split).", ge=0)
    epochs: int = knob(3, "Training epochs.", ge=0)
    drop_solved: bool = knob(True, "Replay only unsolved goals after the first epoch (the paper's protocol).",
                             flag="--keep-solved", switch_help="replay solved goals in later epochs")
    save_prompts: bool = knob(False, "Keep full prompts in trajectories.jsonl.")
    concurrency: int = knob(1, "Episodes of an epoch played at once in this process (threads; each commits on its own). "
                            "Worth it with a remote model; the embedded model answers one call at a time.", ge=1, le=256)
    ray: str | None = knob(None, "Play the episodes on Ray workers: 'local' starts Ray on this machine, else the address "
                           "of a running cluster (HOST:6379 or ray://HOST:10001). Needs --memory-url (the workers share "
                           "that memory server) and the [ray] extra.")
    workers: int = knob(4, "Ray episode workers with --ray (each plays one episode at a time).", ge=1, le=1024)

    def __post_init__(self) -> None:
        super().__post_init__()  # also types task_options (AgentKnobs)
        check_run_location(self.runs_dir, self.run_name, must_be_new=False)  # a resume names an existing run
        if self.ray is not None:
            import importlib.util

            if not self.ray.strip():
                raise ValueError("--ray needs 'local' or a cluster address")
            if not self.memory_url:
                raise ValueError("--ray needs --memory-url (or $REMEMBERER_MEMORY_URL): the workers share one memory server")
            if importlib.util.find_spec("ray") is None:
                raise ValueError("--ray needs the ray package: pip install 'rememberer[ray]'")

    def public(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.metadata.get("secret")}


def check_run_location(runs_dir: str, run_name: str | None, *, must_be_new: bool = True) -> None:
    """Reject run names that leave ``runs_dir``, and a ``runs_dir`` that cannot be written."""
    if run_name is not None:
        if not run_name or run_name in (".", "..") or Path(run_name).name != run_name or "\\" in run_name:
            raise ValueError(f"run name {run_name!r} must be a plain directory name inside --runs-dir")
        if must_be_new and (Path(runs_dir) / run_name).exists():
            raise FileExistsError(f"run directory {Path(runs_dir) / run_name} already exists")
    existing = Path(runs_dir).absolute()
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"runs dir {runs_dir}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"runs dir {runs_dir} is not writable ({existing})")


@dataclass
class EpisodeResult:
    phase: str
    epoch: int
    goal_id: str
    episode_id: str
    success: bool
    reward: float
    steps: int
    fallbacks: int
    retries: int
    truncated: bool
    prompt_tokens: int
    completion_tokens: int
    model_seconds: float
    wall_seconds: float
    actions: list[str | None]
    backup: dict[str, Any]
    error: str | None = None


class Run:
    """One run directory and the live objects shared by its episodes."""

    def __init__(
        self,
        settings: RunSettings,
        *,
        model: Any = None,
        memory: Any = None,
        task_set: TaskSet | None = None,
        resume: bool = False,
    ):
        self.settings = settings
        self.tasks = task_set or load_task_set(settings.task_set, **settings.task_options)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        self.run_id = settings.run_name or f"{stamp}-{self.tasks.name}-{uuid.uuid4().hex[:6]}"
        self.directory = Path(settings.runs_dir) / self.run_id
        if not resume:
            check_run_location(settings.runs_dir, settings.run_name)  # before any model or memory is loaded
        if resume:
            if not settings.run_name:
                raise ValueError("resuming needs the run name")
            if not (self.directory / "config.json").is_file():
                raise FileNotFoundError(f"no run to resume at {self.directory}")
        self.context = AgentContext.from_knobs(
            settings,
            task_set=self.tasks.name,
            run_id=self.run_id,
            task_set_instance=self.tasks,
            model_instance=model,
            memory_instance=memory,
            sessions_instance=EnvironmentSessions(self.tasks.make_env),
        )
        # Resolve once, so every episode shares one memory and one model (cheapest check first).
        self.context.memory_instance = resources.memory(self.context)
        self.context.model_instance = resources.model(self.context)
        if model is None and settings.model.startswith("openai"):
            probe(self.context.model_instance, settings.base_url)
        self.memory = self.context.memory_instance
        self.step_cap = resources.step_cap(self.context)
        # The directory is made last, once everything above worked: a failed start leaves nothing.
        if not resume:
            self.directory.mkdir(parents=True, exist_ok=False)
        try:
            # Persistence is the runner's business: checkpoints per episode thread (on disk, so a
            # killed run can continue), dropped once the episode is written to the run directory.
            self._checkpoints = sqlite3.connect(str(self.directory / "checkpoints.sqlite"), check_same_thread=False)
            # WAL + synchronous=NORMAL: a killed process loses nothing committed (only a power cut
            # can drop the last checkpoints, which then replay); a full fsync per graph step cost ~10 ms.
            self._checkpoints.execute("PRAGMA journal_mode=WAL")
            self._checkpoints.execute("PRAGMA synchronous=NORMAL")
            # The state's typed records are allowed explicitly (nothing else is unpacked; no pickle).
            self.checkpointer = SqliteSaver(self._checkpoints, serde=serializer())
            self.app = builder.compile(checkpointer=self.checkpointer)
            self.results: list[EpisodeResult] = []
            self.on_step: Callable[[str, int], None] | None = None
            """Called with (episode id, steps taken so far) while an episode runs (progress, ETA)."""
            self._finished: dict[tuple[str, int, str], EpisodeResult] = {}
            self._commit_lock = threading.Lock()
            if resume:
                self._load_finished()
            else:
                self._write_config()
        except BaseException:
            if not resume:
                shutil.rmtree(self.directory, ignore_errors=True)
            raise

    # ------------------------------------------------------------------ resume
    @staticmethod
    def saved_settings(runs_dir: str, run_name: str, api_key: str | None = None) -> RunSettings:
        """The settings a run was started with (from its ``config.json``), for ``--resume``."""
        path = Path(runs_dir) / run_name / "config.json"
        if not path.is_file():
            raise FileNotFoundError(f"no run to resume at {path.parent}")
        saved = json.loads(path.read_text(encoding="utf-8"))["settings"]
        known = {f.name for f in fields(RunSettings)}
        return RunSettings(**{k: v for k, v in saved.items() if k in known}, api_key=api_key)

    def _load_finished(self) -> None:
        """Read the committed episodes; drop a torn last line and uncommitted trajectories."""
        lines = _complete_lines(self.directory / "episodes.jsonl")
        for line in lines:
            result = EpisodeResult(**json.loads(line))
            self.results.append(result)
            self._finished[(result.phase, result.epoch, result.goal_id)] = result
        committed = {r.episode_id for r in self.results}
        kept = [line for line in _complete_lines(self.directory / "trajectories.jsonl")
                if json.loads(line).get("episode_id") in committed]
        _rewrite(self.directory / "trajectories.jsonl", kept)
        config = json.loads((self.directory / "config.json").read_text(encoding="utf-8"))
        expected = int(config.get("memory", {}).get("records_at_start", 0)) + sum(
            int(r.backup.get("new_records", 0) or 0) for r in self.results
        )
        if expected > 0 and len(self.memory) == 0:
            from rememberer.memory import MemoryStoreError

            raise MemoryStoreError(
                f"memory {self.memory.path} is empty, but run {self.run_id} had written records to it; "
                "refusing to resume into a lost memory (restore the directory)"
            )
        self._append("resumes.jsonl", {"resumed_at": datetime.now(timezone.utc).isoformat(), "finished_episodes": len(self.results),
                                       "code_version": code_version()})

    # ------------------------------------------------------------------ files
    def _write_config(self) -> None:
        versions = {}
        for package in ("rememberer", "langgraph", "langchain-core", "chromadb", "llama-cpp-python", "textcraft"):
            try:
                versions[package] = metadata.version(package)
            except metadata.PackageNotFoundError:
                versions[package] = None
        config = {
            "run_id": self.run_id,
            "created": datetime.now(timezone.utc).isoformat(),
            "settings": self.settings.public(),
            "context": self.context.plain(),
            "model_id": model_id(self.context.model_instance, self.settings.model),
            "model_file": model_file(self.context.model_instance),
            "code_version": code_version(),
            "memory": {
                "path": str(self.memory.path) if self.memory.path else None,
                "url": getattr(self.memory, "url", None),
                "namespace": self.memory.namespace,
                "embedding_model": self.memory.embedder.model_id,
                "records_at_start": len(self.memory),
            },
            "task_set": {"name": self.tasks.name, "step_cap": self.step_cap, "metadata": self.tasks.metadata},
            "seeds": {"advice": self.settings.seed, "model": self.settings.seed},
            "machine": {"python": platform.python_version(), "platform": platform.platform()},
            "versions": versions,
        }
        (self.directory / "config.json").write_text(json.dumps(config, indent=1, default=str) + "\n", encoding="utf-8")

    def _append(self, name: str, payload: dict[str, Any]) -> None:
        with open(self.directory / name, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(payload, ensure_ascii=False, default=str) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    # ------------------------------------------------------------------ episodes
    def episode(self, goal_id: str, *, phase: str, epoch: int, training: bool) -> EpisodeResult:
        episode_id = f"{self.run_id}:{phase}:{epoch}:{goal_id}"
        finished = self._finished.get((phase, epoch, goal_id))
        if finished is not None:  # committed before an interruption: never played or applied twice
            return finished
        self.context.training = training
        config = {"configurable": {"thread_id": episode_id}, "recursion_limit": recursion_limit(self.step_cap)}
        started = time.perf_counter()
        error = None
        saved = self.app.get_state(config)
        if saved.values and not saved.next and not _finished_state(saved.values, training):
            # A checkpoint that neither continues nor ends the episode (cut before the first
            # node finished): nothing was applied yet, so the episode starts afresh.
            self.checkpointer.delete_thread(episode_id)
            saved = self.app.get_state(config)
        try:
            if not saved.values:
                state = self._drive({"goal_id": goal_id, "episode_id": episode_id}, config, episode_id)
            elif saved.next:  # interrupted mid-episode: continue from the last checkpoint
                state = self._drive(None, config, episode_id)
            else:  # finished, but its line was not written
                state = saved.values
        except ModelUnavailableError:
            raise
        except TaskError as exc:
            error = str(exc)
            state = self.app.get_state(config).values or {}
        result = episode_result(state, phase=phase, epoch=epoch, goal_id=goal_id, episode_id=episode_id,
                                started=started, error=error)
        exclude = None if self.settings.save_prompts else {"prompt"}
        self._commit(result, [s.model_dump(exclude=exclude) for s in state.get("steps", [])])
        return result

    def _commit(self, result: EpisodeResult, steps: list[dict[str, Any]]) -> None:
        """Write an episode's trajectory, then its ``episodes.jsonl`` line (its commit record)."""
        with self._commit_lock:
            self._append("trajectories.jsonl", {"episode_id": result.episode_id, "phase": result.phase, "steps": steps})
            self._append("episodes.jsonl", asdict(result))  # the commit record of the episode
            self.results.append(result)
            self._finished[(result.phase, result.epoch, result.goal_id)] = result
            self.checkpointer.delete_thread(result.episode_id)

    def _drive(self, graph_input: dict[str, Any] | None, config: dict[str, Any], episode_id: str) -> dict[str, Any]:
        """Run (or continue) one episode to its end; report each executed step to ``on_step``."""
        state: dict[str, Any] = {}
        reported = None
        for state in self.app.stream(graph_input, context=self.context, config=config, durability="sync", stream_mode="values"):
            steps = int(state.get("step_count", 0) or 0)
            if self.on_step is not None and steps != reported:
                reported = steps
                self.on_step(episode_id, steps)
        return state

    def _play_all(self, goals: list[str], *, phase: str, epoch: int, training: bool, concurrency: int,
                  on_episode: Callable[[EpisodeResult], None] | None) -> list[EpisodeResult]:
        """The episodes of one phase/epoch, at most ``concurrency`` at a time (threads: the
        model call dominates and releases the GIL; memory writes take the store's lock)."""
        if concurrency <= 1 or len(goals) <= 1:
            out = []
            for goal in goals:
                out.append(self.episode(goal, phase=phase, epoch=epoch, training=training))
                if on_episode:
                    on_episode(out[-1])
            return out
        self.context.training = training
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="episode") as pool:
            futures = [pool.submit(self.episode, goal, phase=phase, epoch=epoch, training=training) for goal in goals]
            out = []
            for future in futures:  # callbacks in goal order; every episode commits on its own
                out.append(future.result())
                if on_episode:
                    on_episode(out[-1])
        return out

    def train(self, goals: Iterable[str], epochs: int, on_episode: Callable[[EpisodeResult], None] | None = None,
              concurrency: int = 1) -> None:
        remaining = list(goals)
        for epoch in range(epochs):
            results = self._play_all(remaining, phase="train", epoch=epoch, training=True,
                                     concurrency=concurrency, on_episode=on_episode)
            solved = {r.goal_id for r in results if r.success}
            if self.settings.drop_solved and epoch == 0:
                remaining = [g for g in remaining if g not in solved]

    def evaluate(self, goals: Iterable[str], on_episode: Callable[[EpisodeResult], None] | None = None, phase: str = "eval",
                 concurrency: int = 1) -> None:
        self._play_all(list(goals), phase=phase, epoch=0, training=False, concurrency=concurrency, on_episode=on_episode)

    # ------------------------------------------------------------------ summary
    def summary(self, wall_seconds: float) -> dict[str, Any]:
        def block(results: list[EpisodeResult]) -> dict[str, Any]:
            n = len(results)
            if not n:
                return {"episodes": 0}
            return {
                "episodes": n,
                "success_rate": round(sum(r.success for r in results) / n, 4),
                "mean_reward": round(sum(r.reward for r in results) / n, 4),
                "mean_steps": round(sum(r.steps for r in results) / n, 2),
                "fallback_steps": sum(r.fallbacks for r in results),
                "retries": sum(r.retries for r in results),
                "errors": sum(r.error is not None for r in results),
                "prompt_tokens": sum(r.prompt_tokens for r in results),
                "completion_tokens": sum(r.completion_tokens for r in results),
                "model_seconds": round(sum(r.model_seconds for r in results), 1),
                "wall_seconds": round(sum(r.wall_seconds for r in results), 1),
            }

        phases = ordered_phases({r.phase for r in self.results})
        train_goals = {r.goal_id for r in self.results if r.phase == "train"}
        solved_so_far: set[str] = set()
        per_epoch = {}
        for r in self.results:
            if r.phase == "train":
                per_epoch.setdefault(r.epoch, []).append(r)
        summary = {
            "run_id": self.run_id,
            "run_dir": str(self.directory),
            "task_set": self.tasks.name,
            "model_id": model_id(self.context.model_instance, self.settings.model),
            "memory_dir": str(self.memory.path) if self.memory.path else getattr(self.memory, "url", None),
            "memory": self.memory.stats(),
            "phases": {p: block([r for r in self.results if r.phase == p]) for p in phases},
            "train_epochs": {},
            "wall_seconds": round(wall_seconds, 1),
        }
        for epoch, results in sorted(per_epoch.items()):
            solved_so_far |= {r.goal_id for r in results if r.success}
            summary["train_epochs"][str(epoch)] = {
                **block(results),
                "solved_so_far": round(len(solved_so_far) / len(train_goals), 4),
            }
        (self.directory / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        (self.directory / "summary.md").write_text(summary_markdown(summary), encoding="utf-8")
        plot_learning_curve(summary, self.directory / "learning_curve.png")
        return summary


def episode_result(state: dict[str, Any], *, phase: str, epoch: int, goal_id: str, episode_id: str, started: float,
                   error: str | None) -> EpisodeResult:
    """The result line of an episode from its final graph state."""
    steps = state.get("steps", [])
    return EpisodeResult(
        phase=phase,
        epoch=epoch,
        goal_id=goal_id,
        episode_id=episode_id,
        success=bool(state.get("success")) and error is None,
        reward=float(state.get("total_reward", 0.0)),
        steps=len(steps),
        fallbacks=int(state.get("fallbacks", 0)),
        retries=int(state.get("retries", 0)),
        truncated=bool(state.get("truncated")),
        prompt_tokens=sum(s.prompt_tokens for s in steps),
        completion_tokens=sum(s.completion_tokens for s in steps),
        model_seconds=round(sum(s.model_seconds for s in steps), 3),
        wall_seconds=round(time.perf_counter() - started, 3),
        actions=[s.action for s in steps],
        backup=state.get("backup", {}),
        error=error,
    )


def _finished_state(values: dict[str, Any], training: bool) -> bool:
    """Whether a checkpointed episode state is the end of the episode (backed up if training)."""
    ended = bool(values.get("done") or values.get("truncated"))
    return ended and (not training or bool(values.get("backup")))


def _complete_lines(path: Path) -> list[str]:
    """The newline-terminated lines of a JSONL file (a torn last line is dropped)."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    complete = lines[:-1]  # whatever follows the last newline is torn (or empty)
    good = []
    for line in complete:
        if not line.strip():
            continue
        try:
            json.loads(line)
        except ValueError:
            break  # a torn write; nothing after it was committed
        good.append(line)
    if len(good) != len([c for c in complete if c.strip()]) or lines[-1]:
        _rewrite(path, good)
    return good


def _rewrite(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


PHASE_ORDER = ("train", "eval", "baseline")


def ordered_phases(phases: Iterable[str]) -> list[str]:
    """Phases in protocol order (train, eval, baseline), any others after them by name."""
    phases = set(phases)
    return [p for p in PHASE_ORDER if p in phases] + sorted(phases - set(PHASE_ORDER))


def summary_markdown(summary: dict[str, Any]) -> str:
    lines = [
        f"# Run {summary['run_id']}",
        "",
        f"Task set **{summary['task_set']}**, model `{summary['model_id']}`, memory `{summary['memory_dir']}` "
        f"({summary['memory']['records']} records), wall time {summary['wall_seconds']} s.",
        "",
        "| phase | episodes | success | mean reward | mean steps | fallbacks | tokens (prompt/completion) | wall s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    rows = [(f"train epoch {int(e) + 1} (solved so far {b['solved_so_far']:.0%})", b) for e, b in summary["train_epochs"].items()]
    rows += [(p, b) for p, b in summary["phases"].items() if p != "train"]
    for name, b in rows:
        if not b.get("episodes"):
            continue
        lines.append(
            f"| {name} | {b['episodes']} | {b['success_rate']:.0%} | {b['mean_reward']:.3f} | {b['mean_steps']} | "
            f"{b['fallback_steps']} | {b['prompt_tokens']}/{b['completion_tokens']} | {b['wall_seconds']} |"
        )
    return "\n".join(lines) + "\n"


REFERENCE_STYLE = {"eval": ("tab:green", (0, (6, 3))), "baseline": ("tab:red", (0, (2, 2)))}


def reference_lines(summary: dict[str, Any]) -> list[tuple[str, float, float]]:
    """(label, success rate, drawn y) of each evaluation phase; equal rates are drawn a hair
    apart so that both lines stay visible, and 0 or 1 sits inside the axes, not on them."""
    lines = []
    for phase in ordered_phases(summary["phases"]):
        b = summary["phases"][phase]
        if phase != "train" and b.get("episodes"):
            lines.append([f"{phase}: {b['success_rate']:.0%} of {b['episodes']} test goals", b["success_rate"], b["success_rate"]])
    for i, line in enumerate(lines):
        same = [other for other in lines[:i] if abs(other[1] - line[1]) < 0.01]
        line[2] = line[1] + 0.035 * len(same) * (-1 if line[1] > 0.5 else 1)
    return [tuple(line) for line in lines]


def plot_learning_curve(summary: dict[str, Any], path: Path) -> None:
    """Success rate per training epoch, with the evaluation phases as labelled reference lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    epochs = summary["train_epochs"]
    fig, ax = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    xs = [int(e) + 1 for e in epochs] or [1]
    if epochs:
        ax.plot(xs, [b["solved_so_far"] for b in epochs.values()], marker="o", color="tab:blue", label="training goals solved so far")
        ax.plot(xs, [b["success_rate"] for b in epochs.values()], marker="s", linestyle=":", color="tab:blue", alpha=0.6,
                label="success among goals played that epoch")
    ax.set_xticks(xs)
    ax.set_xlim(min(xs) - 0.3, max(xs) + 0.3)
    for label, rate, y in reference_lines(summary):
        phase = label.split(":", 1)[0]
        color, dash = REFERENCE_STYLE.get(phase, ("tab:gray", (0, (4, 2, 1, 2))))
        ax.axhline(y, linestyle=dash, color=color, linewidth=1.6, label=label)
        ax.annotate(f"{phase} {rate:.0%}", xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(4, 0),
                    textcoords="offset points", va="center", fontsize=8, color=color)
    ax.set_ylim(-0.08, 1.08)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.grid(axis="y", alpha=0.3)
    ax.set_xlabel("training epoch")
    ax.set_ylabel("success rate")
    ax.set_title(f"{summary['task_set']}: {summary['model_id']}", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.2), ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
