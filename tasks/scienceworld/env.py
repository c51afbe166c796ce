"""ScienceWorld (Wang et al., 2022) behind the task protocol, with one JVM per process.

The PyPI ``scienceworld`` package runs a bundled Scala simulator in a JVM reached over py4j.
Starting that JVM costs about a second, and its ``step()`` also computes the look text, the
inventory and the full list of valid action-object combinations, which is the slow part
(hundreds to thousands of strings per step). This adapter therefore:

* starts **one JVM per process** (:class:`Engine`), shared by every environment instance and
  shut down at exit (or explicitly with :func:`shutdown_engine`), waiting for the Java process to
  end so that no process or port is left behind;
* steps through the simulator's ``server.step`` directly and asks for the valid-action list
  **only when** the task set was built with ``valid_actions=True`` (the prompt needs it);
* turns the score (0-100, ``-100`` after a wrong ``focus on``) into **dense rewards**: the reward
  of a step is the change of score divided by 100, so an episode's rewards add up to its final
  score / 100; ``success`` is a score of 100, a negative score ends the episode as a failure;
* enforces a per-episode step cap (``done`` with a message when it is reached);
* answers ScienceWorld's "Ambiguous request" question itself by choosing option 0 (as the
  reference agents do) and reports it in the feedback.

Several environment instances may be alive at once (the runner keeps one per episode). The
engine remembers which instance loaded the simulator last; an instance that steps after another
one reloads its game and replays its own actions first (the simulator is deterministic per task
and variation), so instances never see each other's state.
"""

from __future__ import annotations

import atexit
import shutil
import threading
from dataclasses import dataclass, field

from ..base import Observation, TaskError
from .matcher import canonical_observation

JAVA_HINT = (
    "ScienceWorld runs a bundled JAR and needs Java (>= 11; tested with OpenJDK 17) on PATH, "
    "e.g. apt-get install openjdk-17-jre-headless"
)
PACKAGE_HINT = "ScienceWorld needs the scienceworld extra: pip install -e '.[scienceworld]'"
AMBIGUOUS = "Ambiguous request"


def java_available() -> bool:
    return shutil.which("java") is not None


class Engine:
    """The process-wide simulator: one JVM, started on first use."""

    def __init__(self) -> None:
        if not java_available():
            raise TaskError(JAVA_HINT)
        try:
            from scienceworld import ScienceWorldEnv
        except ImportError as exc:
            raise TaskError(PACKAGE_HINT) from exc
        # The package's own step limit is disabled; the adapter enforces its cap itself.
        self.env = ScienceWorldEnv("", envStepLimit=10**9)
        self.server = self.env.server
        self.owner: object | None = None
        self.lock = threading.RLock()
        self.closed = False

    @property
    def java_pid(self) -> int:
        return self.env._gateway.java_process.pid

    def close(self, timeout: float = 10.0) -> None:
        """Shut the gateway down and wait for the JVM to exit (killing it if it does not)."""
        if self.closed:
            return
        self.closed = True
        proc = self.env._gateway.java_process
        try:
            self.env.close()
        except Exception:  # the gateway may already be gone; the process check below decides
            pass
        try:
            proc.wait(timeout)
        except Exception:
            proc.kill()
            proc.wait(timeout)
        # ScienceWorldEnv.__del__ calls close() again; make that a no-op.
        self.env.close = lambda: None  # type: ignore[method-assign]


_ENGINE: Engine | None = None
_ENGINE_LOCK = threading.Lock()


def engine() -> Engine:
    """The shared engine, started on first call (about 1 s) and reused afterwards."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None or _ENGINE.closed:
            _ENGINE = Engine()
        return _ENGINE


def shutdown_engine() -> None:
    """Stop the shared JVM (also registered with :mod:`atexit`). Safe to call repeatedly."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is not None:
            _ENGINE.close()
            _ENGINE = None


atexit.register(shutdown_engine)


def parse_goal_id(goal_id: str) -> tuple[str, int]:
    """``"find-animal:12"`` -> ``("find-animal", 12)``; anything else is a :class:`TaskError`."""
    task, sep, variation = str(goal_id).rpartition(":")
    if not sep or not task or not variation.isdigit():
        raise TaskError(f"scienceworld: goal id {goal_id!r} is not '<task-name>:<variation>'")
    return task, int(variation)


@dataclass
class _Episode:
    task: str
    variation: int
    task_description: str
    inputs: list[str] = field(default_factory=list)
    """Every string sent to the simulator since the reset (for replay), including answers."""
    score: int = 0
    steps: int = 0
    done: bool = False


class ScienceWorldTaskEnv:
    """One ScienceWorld episode at a time, on the shared engine."""

    def __init__(
        self,
        *,
        valid_actions: bool = False,
        step_cap: int = 40,
        simplifications: str = "",
        known_tasks: frozenset[str] | None = None,
    ) -> None:
        self.list_valid_actions = valid_actions
        self.step_cap = step_cap
        self.simplifications = simplifications
        self.known_tasks = known_tasks
        self.episode: _Episode | None = None
        self.last_observation: Observation | None = None

    # -- protocol ------------------------------------------------------------------------------
    def reset(self, goal_id: str) -> Observation:
        task, variation = parse_goal_id(goal_id)
        if self.known_tasks is not None and task not in self.known_tasks:
            raise TaskError(f"scienceworld: unknown task type {task!r} in goal {goal_id!r}")
        eng = engine()
        with eng.lock:
            self._load(eng, task, variation)
            description = _strip_task_description(eng.server.freeActionTaskDesc())
            self.episode = _Episode(task, variation, description)
            first = eng.server.step("look around")
            self.episode.inputs.append("look around")
            eng.owner = self
            return self._observe(eng, feedback="", reward=0.0, response=first, after_reset=True)

    def step(self, action: str) -> Observation:
        ep = self.episode
        if ep is None:
            raise TaskError("scienceworld: call reset(goal_id) before step()")
        if ep.done:
            return self._with_feedback("The episode is over; nothing happened.")
        action = " ".join(str(action).split())
        if not action:
            return self._with_feedback("Invalid action: the action is empty.")
        eng = engine()
        with eng.lock:
            if eng.owner is not self:
                self._replay(eng)
            response = eng.server.step(action)
            ep.inputs.append(action)
            note = ""
            if response.startswith(AMBIGUOUS):
                response = eng.server.step("0")
                ep.inputs.append("0")
                note = " (ambiguous; the first interpretation was taken)"
            ep.steps += 1
            score = int(round(100 * eng.server.getScore()))
            reward = (score - ep.score) / 100.0
            ep.score = score
            completed = bool(eng.server.getCompleted())
            feedback = response.strip() + note
            if score < 0:
                ep.done = True
                feedback += " [The task failed: score -100.]"
            elif score >= 100 or completed:
                ep.done = True
            elif ep.steps >= self.step_cap:
                ep.done = True
                feedback += f" [Step cap of {self.step_cap} reached.]"
            return self._observe(eng, feedback=feedback, reward=reward, response=response)

    # -- helpers -------------------------------------------------------------------------------
    @property
    def score(self) -> int:
        return self.episode.score if self.episode else 0

    def gold_actions(self) -> list[str]:
        """The simulator's gold action sequence for the current goal (loads it with a gold path)."""
        ep = self.episode
        if ep is None:
            raise TaskError("scienceworld: call reset(goal_id) before gold_actions()")
        eng = engine()
        with eng.lock:
            eng.env.load(ep.task, ep.variation, self.simplifications, generateGoldPath=True)
            gold = list(eng.server.getGoldActionSequence())
            eng.owner = None  # the loaded game is now the gold-path one; replay on next step
        return gold

    def _load(self, eng: Engine, task: str, variation: int) -> None:
        try:
            eng.env.load(task, variation, self.simplifications, generateGoldPath=False)
        except ValueError as exc:
            raise TaskError(f"scienceworld: {exc}") from None
        eng.server.reset()

    def _replay(self, eng: Engine) -> None:
        ep = self.episode
        assert ep is not None
        self._load(eng, ep.task, ep.variation)
        for text in ep.inputs:
            eng.server.step(text)
        eng.owner = self

    def _observe(self, eng: Engine, *, feedback: str, reward: float, response: str, after_reset: bool = False) -> Observation:
        ep = self.episode
        assert ep is not None
        look = eng.server.freeActionLook()
        inventory = eng.server.freeActionInventory()
        valid = None
        if self.list_valid_actions and not ep.done:
            valid = tuple(sorted(set(eng.server.getValidActionObjectCombinations())))
        obs = Observation(
            task=task_text(ep.task, ep.task_description),
            observation=canonical_observation(look, inventory),
            context=look.strip(),
            feedback="" if after_reset else feedback,
            reward=reward,
            done=ep.done,
            success=ep.score >= 100,
            valid_actions=valid,
        )
        self.last_observation = obs
        return obs

    def _with_feedback(self, message: str) -> Observation:
        last = self.last_observation
        if last is None:
            raise TaskError("scienceworld: call reset(goal_id) before step()")
        return Observation(
            task=last.task, observation=last.observation, context=last.context, feedback=message,
            reward=0.0, done=last.done, success=last.success, valid_actions=last.valid_actions,
        )


def task_text(task: str, description: str) -> str:
    """The ``task`` half of the memory key: task type, then the variation's description."""
    return f"ScienceWorld task ({task}): {description}"


def _strip_task_description(text: str) -> str:
    text = text.strip()
    prefix = "Task Description:"
    if text.startswith(prefix):
        text = text[len(prefix):]
    return " ".join(text.split())
