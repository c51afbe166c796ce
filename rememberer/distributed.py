"""Rollouts across machines: episodes on Ray workers that share one Chroma memory server.

``rememberer train|eval|run --ray local|ADDRESS --workers N --memory-url http://HOST:PORT``
(or :class:`RayRun` from Python) is a :class:`rememberer.runner.Run` whose episodes are played
by ``N`` Ray actors (:class:`EpisodeWorker`), wherever the cluster places them. Each worker
builds its own task set, model and memory client from the run's settings, plays one episode at
a time with the real graph, and applies the backup to the *server* (its write lock and the
``episode:step`` transition ids make concurrent writers equal to a sequential replay, and a
re-applied episode a no-op). The driver keeps the run directory: it dispatches the episodes of
an epoch, commits each line to ``episodes.jsonl`` as it comes back, and applies the protocol
(solved goals dropped after the first epoch). ``--resume`` works as for a local run: committed
episodes are skipped; an episode that was under way restarts on a worker from the beginning
(its backup, if it was already applied, is not applied again).

Ray is an optional extra (``pip install 'rememberer[ray]'``); ``'local'`` starts a Ray instance
on this machine (or reuses one this process started), any other value is passed to
``ray.init(address=...)``. Workers reserve no CPU (they wait on the model most of the time) and
are spread over the cluster's nodes.

Progress: while ``on_step`` is set (the CLI's progress bar), the driver asks the busy workers for
their episode's step count every :attr:`RayRun.progress_interval` seconds (an actor answers
``progress`` on a second thread while ``play`` runs) and reports each change, so the bar and its
step-based ETA advance per step, as in a local run, not only when an episode comes back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from rememberer.runner import EpisodeResult, Run, RunSettings, episode_result


class EpisodeWorker:
    """One Ray actor: the graph, the model and a memory client of its own; one episode at a time."""

    def __init__(self, settings: RunSettings, run_id: str):
        from rememberer.graph import AgentContext, builder, checkpointer, recursion_limit
        from rememberer.nodes import resources
        from rememberer.tasks import load_task_set
        from rememberer.tasks.sessions import EnvironmentSessions

        tasks = load_task_set(settings.task_set, **settings.task_options)
        self.context = AgentContext.from_knobs(settings, task_set=tasks.name, run_id=run_id, task_set_instance=tasks,
                                               sessions_instance=EnvironmentSessions(tasks.make_env))
        self.context.memory_instance = resources.memory(self.context)
        self.context.model_instance = resources.model(self.context)
        self.save_prompts = settings.save_prompts
        self.run_id = run_id
        self.app = builder.compile(checkpointer=checkpointer())
        self.recursion_limit = recursion_limit(resources.step_cap(self.context))
        self._progress: tuple[str | None, int] = (None, 0)

    def progress(self) -> tuple[str | None, int]:
        """The episode being played and the steps it has executed (answered while ``play`` runs:
        the actor has a second thread for this)."""
        return self._progress

    def play(self, goal_id: str, phase: str, epoch: int, training: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Play one episode; its result line and its steps (the driver commits them)."""
        import time

        from rememberer.tasks import TaskError

        episode_id = f"{self.run_id}:{phase}:{epoch}:{goal_id}"
        self.context.training = training
        config = {"configurable": {"thread_id": episode_id}, "recursion_limit": self.recursion_limit}
        started, error = time.perf_counter(), None
        self._progress = (episode_id, 0)
        state: dict[str, Any] = {}
        try:
            for state in self.app.stream({"goal_id": goal_id, "episode_id": episode_id}, context=self.context,
                                         config=config, stream_mode="values"):
                self._progress = (episode_id, int(state.get("step_count", 0) or 0))
        except TaskError as exc:
            error = str(exc)
            state = self.app.get_state(config).values or {}
        finally:
            self.app.checkpointer.delete_thread(episode_id)
            self._progress = (None, 0)
        result = episode_result(state, phase=phase, epoch=epoch, goal_id=goal_id, episode_id=episode_id,
                                started=started, error=error)
        exclude = None if self.save_prompts else {"prompt"}
        return asdict(result), [s.model_dump(exclude=exclude) for s in state.get("steps", [])]


def _ray():
    try:
        import ray
    except ImportError:
        raise ValueError("--ray needs the ray package: pip install 'rememberer[ray]'") from None
    return ray


class RayRun(Run):
    """A :class:`Run` whose episodes are played by ``settings.workers`` Ray actors."""

    def __init__(self, settings: RunSettings, *, task_set: Any = None, resume: bool = False, model: Any = None):
        if not settings.ray:
            raise ValueError("RayRun needs settings.ray ('local' or a cluster address)")
        if not settings.memory_url:
            raise ValueError("--ray needs --memory-url (or $REMEMBERER_MEMORY_URL): the workers share one memory server")
        ray = _ray()
        self._started_ray = False
        if not ray.is_initialized():  # connect first: a cluster that cannot be reached leaves no run directory
            try:
                if settings.ray == "local":
                    ray.init(include_dashboard=False, log_to_driver=False)
                else:
                    ray.init(address=settings.ray, include_dashboard=False, log_to_driver=False)
            except Exception as exc:
                raise ValueError(f"cannot connect to Ray at {settings.ray!r}: {type(exc).__name__}: {str(exc)[:200]}") from None
            self._started_ray = True
        try:
            super().__init__(settings, task_set=task_set, resume=resume, model=model)
            # max_concurrency=2: `progress` is answered while `play` runs (per-step progress on the driver)
            remote = ray.remote(num_cpus=0, scheduling_strategy="SPREAD", max_concurrency=2)(EpisodeWorker)
            self.workers = [remote.remote(settings, self.run_id) for _ in range(settings.workers)]
        except BaseException:
            self._shutdown()
            raise

    def _play_all(self, goals: list[str], *, phase: str, epoch: int, training: bool, concurrency: int,
                  on_episode: Callable[[EpisodeResult], None] | None) -> list[EpisodeResult]:
        """The episodes of one phase/epoch on the workers; each is committed as it comes back."""
        ray = _ray()
        done: dict[str, EpisodeResult] = {}
        queue = []
        for goal in goals:
            finished = self._finished.get((phase, epoch, goal))
            if finished is not None:
                done[goal] = finished
                if on_episode:
                    on_episode(finished)
            else:
                queue.append(goal)
        idle = list(self.workers)
        running: dict[Any, tuple[str, Any]] = {}
        while queue or running:
            while queue and idle:
                worker, goal = idle.pop(), queue.pop(0)
                running[worker.play.remote(goal, phase, epoch, training)] = (goal, worker)
            ready, _ = ray.wait(list(running), num_returns=1,
                                timeout=self.progress_interval if self.on_step is not None else None)
            if not ready:  # nothing finished yet: report the running episodes' steps
                self._report_progress([w for _, w in running.values()])
                continue
            goal, worker = running.pop(ready[0])
            idle.append(worker)
            line, steps = ray.get(ready[0])  # a worker's ModelUnavailableError stops the run here
            result = EpisodeResult(**line)
            self._commit(result, steps)
            done[goal] = result
            if on_episode:
                on_episode(result)
        return [done[goal] for goal in goals]

    progress_interval = 0.25
    """Seconds between two polls of the workers' step counts while ``on_step`` is set."""

    def _report_progress(self, workers: list[Any]) -> None:
        """Ask each busy worker for its episode's steps; report the changes to ``on_step``."""
        ray = _ray()
        try:
            answers = ray.get([w.progress.remote() for w in workers], timeout=5)
        except Exception:  # a slow or lost answer is only a progress bar that waits
            return
        seen = getattr(self, "_reported_steps", {})
        for episode_id, steps in answers:
            if episode_id is not None and self.on_step is not None and seen.get(episode_id) != steps:
                seen[episode_id] = steps
                self.on_step(episode_id, steps)
        self._reported_steps = seen

    def _shutdown(self) -> None:
        ray = _ray()
        for worker in getattr(self, "workers", []):
            ray.kill(worker)
        self.workers = []
        if self._started_ray and ray.is_initialized():
            ray.shutdown()

    def close(self) -> None:
        """Stop the workers (and Ray, if this run started it)."""
        self._shutdown()


__all__ = ["EpisodeWorker", "RayRun"]
