"""Live environments per episode, kept outside the (checkpointable) graph state.

A graph run carries only data; the environment object of an episode lives here, keyed by
episode id. If a node asks for an episode this process has not seen (a run resumed from a
checkpoint elsewhere), the environment is rebuilt by resetting to the goal and replaying the
executed actions, which is exact for deterministic task sets.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

from .base import Observation, TaskEnvironment, TaskError


class EnvironmentSessions:
    def __init__(self, make_env: Callable[[], TaskEnvironment], capacity: int = 64):
        self._make_env = make_env
        self._capacity = capacity
        self._envs: OrderedDict[str, TaskEnvironment] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, episode_id: str, goal_id: str) -> Observation:
        env = self._make_env()
        try:
            first = env.reset(goal_id)
        except TaskError:
            raise
        except Exception as exc:  # an environment crash must not look like a bug in the agent
            raise TaskError(f"environment failed to reset to goal {goal_id!r}: {type(exc).__name__}: {exc}") from exc
        with self._lock:
            self._envs[episode_id] = env
            self._envs.move_to_end(episode_id)
            while len(self._envs) > self._capacity:
                self._envs.popitem(last=False)
        return first

    def get(self, episode_id: str, goal_id: str, executed: Sequence[str]) -> TaskEnvironment:
        with self._lock:
            env = self._envs.get(episode_id)
        if env is None:
            self.start(episode_id, goal_id)
            with self._lock:
                env = self._envs[episode_id]
            for action in executed:
                env.step(action)
        return env

    def step(self, episode_id: str, goal_id: str, executed: Sequence[str], action: str) -> Observation:
        env = self.get(episode_id, goal_id, executed)
        try:
            return env.step(action)
        except TaskError:
            raise
        except Exception as exc:
            raise TaskError(f"environment crashed on action {action!r}: {type(exc).__name__}: {exc}") from exc

    def close(self, episode_id: str) -> None:
        with self._lock:
            env = self._envs.pop(episode_id, None)
        close = getattr(env, "close", None)
        if callable(close):
            close()
