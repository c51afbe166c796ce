"""Mobile-Env's WikiHow tasks behind the task protocol (needs an Android emulator; not run here).

The environment is Mobile-Env's ``android_env.load(...)`` wrapped in ``VhIoWrapper`` (element-level
actions over the view hierarchy), as REMEMBERER ran it. Everything it needs is imported lazily
on first use; :func:`check_requirements` names each missing piece in one :class:`TaskError`.

Per step the adapter:

* parses the agent's ``CLICK(i)`` / ``INPUT(i, text)`` / ``SCROLL(dir)`` / ``GOBACK`` text
  (:func:`.screen.parse_action`; anything else is ``NOTHING`` and not counted as a step, as in the
  paper) and sends the ``VhIoWrapper`` action;
* passes on the step's **intermediate reward** (Mobile-Env rewards completed sub-goals, +1 each in
  the WikiHow tasks) and the latest step instruction;
* renders the screen's view hierarchy as one HTML element per line (:mod:`.screen`) and keys the
  observation by step instruction + screen (:func:`.matcher.observation_key`).

``success`` is Mobile-Env's episode end before the step cap: REMEMBERER counted any termination
within 15 steps as a success (the WikiHow tasks end on their final sub-goal).
"""

from __future__ import annotations

import importlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Observation, TaskError
from .matcher import observation_key
from .screen import available_actions, parse_action, screen_elements, screen_html


@dataclass(frozen=True)
class WikiHowConfig:
    """Where the emulator, the task definitions and the tokenizer are (see ``README.md``)."""

    task_dir: Path
    """Directory of WikiHow task definitions (``*.textproto``), e.g. the extracted canonical set."""
    avd_name: str = "Pixel_2_API_30_ga_x64"
    android_avd_home: str = "~/.android/avd"
    android_sdk_root: str = "~/Android/Sdk"
    emulator_path: str = "~/Android/Sdk/emulator/emulator"
    adb_path: str = "~/Android/Sdk/platform-tools/adb"
    tokenizer: str = "bert-base-uncased"
    """A Hugging Face tokenizer name or path whose vocabulary the tasks type with."""
    vocabulary: str | None = None
    """Optional unified vocabulary file (one token per line), Mobile-Env's ``unify_vocabulary``."""
    run_headless: bool = True
    step_cap: int = 15


def task_ids(task_dir: Path) -> list[str]:
    """Task ids = textproto file stems, in the sorted order the adapter assumes Mobile-Env loads them."""
    return sorted(p.stem for p in Path(task_dir).glob("*.textproto"))


def check_requirements(config: WikiHowConfig) -> None:
    """Raise one :class:`TaskError` listing everything missing to run WikiHow here."""
    missing = []
    for module, hint in (("android_env", "the mobile-env-rl package (pip install -e '.[wikihow]')"),
                         ("transformers", "transformers (installed with mobile-env-rl)"),
                         ("lxml", "lxml (pip install -e '.[wikihow]')")):
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(hint)
    for label, path in (("Android emulator", config.emulator_path), ("adb", config.adb_path)):
        expanded = os.path.expanduser(path)
        if not (Path(expanded).exists() or shutil.which(expanded)):
            missing.append(f"{label} at {path}")
    avd = Path(os.path.expanduser(config.android_avd_home)) / f"{config.avd_name}.avd"
    if not avd.exists():
        missing.append(f"Android virtual device {config.avd_name!r} in {config.android_avd_home}")
    if not Path(config.task_dir).is_dir() or not task_ids(config.task_dir):
        missing.append(f"WikiHow task definitions (*.textproto) in {config.task_dir}")
    if missing:
        raise TaskError(
            "WikiHow (Mobile-Env) cannot run here; missing: " + "; ".join(missing)
            + ". It also needs the WikiHow app APK and the web-replay data the task files name"
            " (see tasks/wikihow/README.md)."
        )


class WikiHowEnv:
    """One Mobile-Env WikiHow episode at a time. The emulator starts on the first reset."""

    def __init__(self, config: WikiHowConfig, *, backend: Any = None) -> None:
        self.config = config
        self._env = backend
        """The ``VhIoWrapper``-wrapped Mobile-Env environment (tests may inject a stand-in)."""
        self._ids = task_ids(config.task_dir)
        self._elements: list = []
        self._instruction = ""
        self._command = ""
        self._steps = 0
        self._done = True
        self._total = 0.0
        self._last: Observation | None = None

    def _backend(self) -> Any:
        if self._env is None:
            check_requirements(self.config)
            import android_env
            from android_env.wrappers import VhIoWrapper
            from transformers import AutoTokenizer

            raw = android_env.load(
                task_path=str(self.config.task_dir),
                avd_name=self.config.avd_name,
                android_avd_home=os.path.expanduser(self.config.android_avd_home),
                android_sdk_root=os.path.expanduser(self.config.android_sdk_root),
                emulator_path=os.path.expanduser(self.config.emulator_path),
                adb_path=os.path.expanduser(self.config.adb_path),
                run_headless=self.config.run_headless,
                mitm_config={"method": "syscert"},
                unify_vocabulary=self.config.vocabulary,
                with_view_hierarchy=True,
            )
            self._env = VhIoWrapper(raw, AutoTokenizer.from_pretrained(self.config.tokenizer),
                                    nb_click_frames=3, nb_scroll_frmaes=10)
        return self._env

    def reset(self, goal_id: str) -> Observation:
        if goal_id not in self._ids:
            raise TaskError(f"wikihow: unknown task {goal_id!r} (not in {self.config.task_dir})")
        env = self._backend()
        step = env.switch_task(self._ids.index(goal_id))
        self._command = "\n".join(env.command())
        self._instruction = "\n".join(env.task_instructions())
        self._steps, self._done, self._total = 0, bool(step.last()), 0.0
        return self._observe(step, reward=0.0, feedback="")

    def step(self, action: str) -> Observation:
        if self._env is None or not self._command:
            raise TaskError("wikihow: call reset(goal_id) before step()")
        if self._done and self._last is not None:
            return _with_feedback(self._last, "The episode is over; nothing happened.")
        import numpy as np

        canonical, fields = parse_action(action, len(self._elements))
        wrapped = {k: (np.array(v, dtype=np.object_) if k == "text" else np.array(v, dtype=np.int64))
                   for k, v in fields.items()}
        step = self._env.step(wrapped)
        if canonical != "NOTHING":
            self._steps += 1
        instructions = self._env.task_instructions()
        if instructions:
            self._instruction = "\n".join(instructions)
        reward = float(step.reward or 0.0)
        self._total += reward
        self._done = bool(step.last()) or self._steps >= self.config.step_cap
        feedback = "" if canonical != "NOTHING" else f"Invalid action {action!r}: nothing was done."
        if self._steps >= self.config.step_cap and not step.last():
            feedback = (feedback + " " if feedback else "") + f"[Step cap of {self.config.step_cap} reached.]"
        return self._observe(step, reward=reward, feedback=feedback, ended=bool(step.last()))

    def _observe(self, step: Any, *, reward: float, feedback: str, ended: bool = False) -> Observation:
        tree = step.observation.get("view_hierarchy") if hasattr(step.observation, "get") else None
        if tree is not None:  # Mobile-Env returns the hierarchy only after a LIFT; keep the last screen
            self._elements = screen_elements(tree)
        screen = "\n".join(e.html for e in self._elements)
        obs = Observation(
            task=self._command,
            observation=observation_key(self._instruction, screen),
            feedback=feedback,
            reward=reward,
            done=self._done,
            success=ended and self._steps <= self.config.step_cap,
            valid_actions=None if self._done else available_actions(self._elements),
        )
        self._last = obs
        return obs


def _with_feedback(o: Observation, message: str) -> Observation:
    return Observation(task=o.task, observation=o.observation, context=o.context, feedback=message,
                       reward=0.0, done=o.done, success=o.success, valid_actions=o.valid_actions)


__all__ = ["WikiHowConfig", "WikiHowEnv", "check_requirements", "screen_html", "task_ids"]
