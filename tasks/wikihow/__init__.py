"""WikiHow (Mobile-Env), REMEMBERER's second task set: an adapter for users who have the emulator.

**Not run in this project**: it needs an Android emulator with an AVD, the WikiHow app and its
web-replay data, none of which come from a package registry (see ``README.md``).
:func:`load_task_set` checks for every piece and raises one :class:`TaskError` naming what is
missing. The screen conversion, the action syntax and the ``lcs+inspat`` matcher are plain Python
and tested on hand-written screens.

Options (or environment variables): ``task_dir`` (``REMEMBERER_WIKIHOW_TASKS``: the directory of
task definitions Mobile-Env loads), ``test_dir`` (``REMEMBERER_WIKIHOW_TEST_TASKS``: the
micro-canonical set's directory, whose file names form the ``test`` split), ``avd_name``
(``REMEMBERER_WIKIHOW_AVD``), ``android_sdk_root`` (``ANDROID_SDK_ROOT``), ``tokenizer``
(``REMEMBERER_WIKIHOW_TOKENIZER``), ``max_steps`` (15).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from ..base import TaskError, TaskSet, check_disjoint
from .env import WikiHowConfig, WikiHowEnv, check_requirements, task_ids
from .matcher import observation_similarity

HERE = Path(__file__).parent

TRAIN_S0 = (
    "add_a_contact_on_whatsapp-8", "avoid_misgendering-0", "become_a_grandmaster-7",
    "become_a_hooters_girl-8", "become_a_pro_footballP28soccerP29_manager-7",
    "become_a_specialist_physician-4", "be_cool_in_high_school_P28boysP29-0",
    "care_for_florida_white_rabbits-4", "fix_wet_suede_shoes-6", "get_zorua_in_pokPC3PA9mon_white-6",
)
"""REMEMBERER's training set S0 (10 canonical tasks outside the micro-canonical test set)."""
TRAIN_S1 = (
    "be_free-0", "build_a_robot_car-8", "change_an_excel_sheet_from_read_only-4",
    "choose_a_swiss_army_knife-8", "color_streak_a_ponytail-0", "come_up_with_a_movie_idea-4",
    "contact_avast_customer_support-7", "drink_mezcal-7", "identify_hickory_nuts-6",
    "wear_a_dress_to_school-6",
)
"""REMEMBERER's training set S1."""


def load_task_set(
    task_dir: str | None = None,
    test_dir: str | None = None,
    avd_name: str | None = None,
    android_sdk_root: str | None = None,
    tokenizer: str | None = None,
    max_steps: int | None = None,
    **_: object,
) -> TaskSet:
    """Build the WikiHow (Mobile-Env) task set.

    Args:
        task_dir: extracted wikihow-canonical task definitions (default $REMEMBERER_WIKIHOW_TASKS).
        test_dir: task definitions of the test split (default $REMEMBERER_WIKIHOW_TEST_TASKS, else
            every task outside the training sets).
        avd_name: Android virtual device (default $REMEMBERER_WIKIHOW_AVD).
        android_sdk_root: Android SDK (default $ANDROID_SDK_ROOT, else ~/Android/Sdk).
        tokenizer: tokenizer of Mobile-Env's text events (default bert-base-uncased).
        max_steps: step cap per episode (default 15).
    """
    task_dir = task_dir or os.environ.get("REMEMBERER_WIKIHOW_TASKS")
    if not task_dir:
        raise TaskError(
            "WikiHow (Mobile-Env) is not set up here: no task definitions (set REMEMBERER_WIKIHOW_TASKS "
            "to the extracted wikihow-canonical directory); it also needs mobile-env-rl, an Android "
            "emulator with an AVD, the WikiHow APK and the replay data (see tasks/wikihow/README.md)"
        )
    sdk = android_sdk_root or os.environ.get("ANDROID_SDK_ROOT", "~/Android/Sdk")
    config = WikiHowConfig(
        task_dir=Path(task_dir),
        avd_name=avd_name or os.environ.get("REMEMBERER_WIKIHOW_AVD", "Pixel_2_API_30_ga_x64"),
        android_sdk_root=sdk,
        emulator_path=f"{sdk}/emulator/emulator",
        adb_path=f"{sdk}/platform-tools/adb",
        tokenizer=tokenizer or os.environ.get("REMEMBERER_WIKIHOW_TOKENIZER", "bert-base-uncased"),
        step_cap=int(max_steps or 15),
    )
    check_requirements(config)
    ids = task_ids(config.task_dir)
    test_source = test_dir or os.environ.get("REMEMBERER_WIKIHOW_TEST_TASKS")
    train = tuple(t for t in TRAIN_S0 if t in ids)
    train_s1 = tuple(t for t in TRAIN_S1 if t in ids)
    if test_source:
        test = tuple(t for t in task_ids(Path(test_source)) if t in ids)
    else:
        test = tuple(t for t in ids if t not in TRAIN_S0 and t not in TRAIN_S1)
    splits = {"train": train, "train_s1": train_s1, "test": test}
    check_disjoint("wikihow", splits)
    check_disjoint("wikihow", splits, train="train_s1")
    return TaskSet(
        name="wikihow",
        description="WikiHow on Mobile-Env (Android emulator): follow a how-to command through the app; intermediate rewards.",
        splits=splits,
        make_env=partial(WikiHowEnv, config),
        max_steps=config.step_cap,
        preamble=(HERE / "preamble.txt").read_text(encoding="utf-8"),
        observation_similarity=observation_similarity,
        task_weight=0.0,  # lcs+inspat are both in observation_similarity (see matcher.py)
        initial_pool=None,
        action_hint="one of INPUT(id, text), CLICK(id), SCROLL(UP|DOWN|LEFT|RIGHT), GOBACK",
        metadata={"task_dir": str(config.task_dir)},
    )


__all__ = ["TRAIN_S0", "TRAIN_S1", "WikiHowConfig", "WikiHowEnv", "load_task_set"]
