"""ScienceWorld task set: splits and matcher (no JVM), then the real simulator on the shared JVM."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from rememberer.tasks import TaskError, load_task_set
from rememberer.tasks.scienceworld import (
    canonical_observation,
    java_available,
    observation_similarity,
    parse_goal_id,
)
from rememberer.tasks.scienceworld.matcher import parse_look

LOOK = """This room is called the kitchen. In it, you see: 
\tthe agent
\ta substance called air
\ta chair. On the chair is: nothing.
\ta counter. On the counter is: a bowl (containing a red apple, a banana), a drawer.
\ta sink, which is turned off. In the sink is: nothing.
\ta thermometer, currently reading a temperature of 10 degrees celsius
You also see:
\tA door to the hallway (that is open)
\tA door to the outside (that is closed)
"""
INVENTORY = "In your inventory, you see:\n\tan orange\n\ta metal pot (containing nothing)\n"


def test_splits_follow_the_package_and_never_overlap():
    ts = load_task_set("scienceworld")
    sizes = {name: len(goals) for name, goals in ts.splits.items()}
    # scienceworld 1.2.3: 3,592 / 1,796 / 1,819 variations over 30 task types
    assert sizes["train"] == 3592 and sizes["dev"] == 1796 and sizes["test"] == 1819
    assert set(ts.splits["train"]).isdisjoint(ts.splits["test"])
    assert set(ts.splits["train_transfer"]).isdisjoint(ts.splits["test_transfer"])
    # round-robin: the first goals of a split cover different task types
    first = [parse_goal_id(g)[0] for g in ts.splits["test_transfer"][:4]]
    assert len(set(first)) == 4
    assert len({parse_goal_id(g)[0] for g in ts.splits["train"][:30]}) == 30
    assert ts.max_steps == 30 and ts.initial_pool.exists()


def test_options_and_bad_goal_ids():
    assert load_task_set("scienceworld", max_steps=7).max_steps == 7
    with pytest.raises(TaskError, match="integer"):
        load_task_set("scienceworld", max_steps="many")
    with pytest.raises(TaskError, match="'<task-name>:<variation>'"):
        parse_goal_id("boil")
    assert parse_goal_id("find-animal:12") == ("find-animal", 12)


def test_canonical_observation_keeps_room_inventory_objects_and_doors():
    room, objects, doors = parse_look(LOOK)
    assert room == "kitchen"
    assert objects == ["a chair", "a counter", "a sink", "a thermometer"]
    assert doors == ["hallway (open)", "outside (closed)"]
    assert canonical_observation(LOOK, INVENTORY) == (
        "Room: kitchen\nInventory: a metal pot; an orange\n"
        "Objects: a chair; a counter; a sink; a thermometer\nDoors: hallway (open); outside (closed)"
    )


def test_observation_similarity_weights_room_inventory_and_objects():
    a = canonical_observation(LOOK, INVENTORY)
    assert observation_similarity(a, a) == pytest.approx(1.0)
    other_room = a.replace("Room: kitchen", "Room: hallway")
    assert observation_similarity(a, other_room) == pytest.approx(0.6)
    empty_hands = canonical_observation(LOOK, "In your inventory, you see:\n")
    assert observation_similarity(a, empty_hands) == pytest.approx(0.7)
    # one object of five differs (the thermometer): objects+doors Jaccard 5/7
    fewer = canonical_observation(LOOK.replace("\ta thermometer, currently reading a temperature of 10 degrees celsius\n", ""), INVENTORY)
    assert observation_similarity(a, fewer) == pytest.approx(0.4 + 0.3 + 0.3 * 5 / 6)
    assert observation_similarity("free text", "free text") == 1.0
    assert observation_similarity("free text", "other") == 0.0


def test_pool_is_well_formed_and_drawn_from_training_variations():
    ts = load_task_set("scienceworld")
    pool = json.loads(ts.initial_pool.read_text(encoding="utf-8"))
    assert pool["format"] == "rememberer-pool/1" and pool["records"]
    training_descriptions = {r["task"] for r in pool["records"]}
    assert len(training_descriptions) == 4  # one gold trajectory per transfer task type
    for record in pool["records"]:
        assert record["observation"].startswith("Room: ")
        for action in record["actions"]:
            assert 0.0 < action["q"] <= 1.0
    # pooled goals are training variations
    described = pool["description"]
    for task in ("find-animal:0", "find-non-living-thing:0", "lifespan-longest-lived:0"):
        assert task in described and task in ts.splits["train_transfer"]


def test_missing_java_or_package_is_a_clear_error(monkeypatch):
    from rememberer.tasks.scienceworld import env as sw_env

    monkeypatch.setattr(sw_env, "_ENGINE", None)  # never touches a running JVM; restored afterwards
    monkeypatch.setattr(sw_env, "java_available", lambda: False)
    with pytest.raises(TaskError, match="needs Java"):
        sw_env.ScienceWorldTaskEnv().reset("boil:0")
    monkeypatch.setattr(sw_env, "java_available", lambda: True)
    monkeypatch.setitem(sys.modules, "scienceworld", None)  # import fails as if not installed
    with pytest.raises(TaskError, match=r"pip install -e '\.\[scienceworld\]'"):
        sw_env.ScienceWorldTaskEnv().reset("boil:0")


needs_java = pytest.mark.skipif(not java_available(), reason="ScienceWorld needs Java on PATH (its simulator is a JAR)")


@pytest.fixture(scope="module")
def sw(scienceworld_loader):
    return scienceworld_loader(valid_actions=False, max_steps=30)


@needs_java
def test_gold_path_gives_dense_rewards_that_add_up_to_the_score(sw):
    env = sw.make_env()
    env.reset("find-non-living-thing:225")
    gold = env.gold_actions()
    first = env.reset("find-non-living-thing:225")
    assert first.task.startswith("ScienceWorld task (find-non-living-thing): Your task is to find")
    assert first.observation.startswith("Room: ") and first.valid_actions is None
    total, rewards = 0.0, []
    for action in gold:
        obs = env.step(action)
        rewards.append(obs.reward)
        total += obs.reward
        if obs.done:
            break
    assert obs.done and obs.success and env.score == 100
    assert total == pytest.approx(1.0)
    assert sum(r > 0 for r in rewards) >= 2  # intermediate rewards, not only at the end
    assert env.step("look around").feedback == "The episode is over; nothing happened."


@needs_java
def test_wrong_focus_fails_with_minus_100(sw):
    env = sw.make_env()
    env.reset("find-animal:225")
    obs = env.step("focus on agent")
    assert obs.done and not obs.success and env.score == -100
    assert "failed" in obs.feedback


@needs_java
def test_step_cap_and_invalid_actions(sw):
    env = load_task_set("scienceworld", max_steps=3).make_env()
    env.reset("boil:0")
    obs = env.step("fly to the moon")
    assert obs.reward == 0 and "No known action" in obs.feedback and not obs.done
    env.step("look around")
    obs = env.step("look around")
    assert obs.done and not obs.success and "Step cap of 3" in obs.feedback


@needs_java
def test_ambiguous_command_takes_the_first_interpretation_and_replays(sw):
    a, b = sw.make_env(), sw.make_env()
    a.reset("find-animal:0")  # starts in the hallway; the kitchen has several doors
    a.step("open door to kitchen")
    a.step("go to kitchen")
    obs = a.step("look at door")
    assert "ambiguous; the first interpretation was taken" in obs.feedback
    assert "Ambiguous request" not in obs.feedback
    b.reset("boil:0")
    again = a.step("look around")  # replay includes the answer "0" to the question
    assert again.observation == obs.observation and "kitchen" in again.observation


@needs_java
def test_valid_actions_only_when_asked(sw):
    env = load_task_set("scienceworld", valid_actions=True).make_env()
    obs = env.reset("find-animal:225")
    assert obs.valid_actions and "look around" in obs.valid_actions and len(obs.valid_actions) > 100
    assert list(obs.valid_actions) == sorted(set(obs.valid_actions))


@needs_java
def test_interleaved_environments_share_one_jvm_without_sharing_state(sw):
    from rememberer.tasks.scienceworld.env import engine

    a, b = sw.make_env(), sw.make_env()
    a.reset("find-animal:225")
    pid = engine().java_pid
    a_obs = a.step("open door to kitchen")
    b.reset("boil:0")
    b.step("open door to kitchen")
    again = a.step("look around")  # a's game is reloaded and replayed first
    assert again.observation == a_obs.observation
    assert engine().java_pid == pid


@needs_java
def test_shutdown_leaves_no_process_or_port():
    """A separate interpreter starts the JVM, plays a step and exits; nothing may remain."""
    pytest.importorskip("scienceworld")
    code = (
        "from rememberer.tasks.scienceworld import env as E\n"
        "eng = E.engine(); env = E.ScienceWorldTaskEnv(); env.reset('boil:0'); env.step('look around')\n"
        "print(eng.java_pid, eng.env._gateway.gateway_parameters.port, flush=True)\n"
        "E.shutdown_engine()\n"
        "import os; print(os.path.exists(f'/proc/{eng.java_pid}'), flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pid_port, alive = out.stdout.split("\n")[:2]
    pid, port = (int(x) for x in pid_port.split())
    assert alive == "False"
    assert not os.path.exists(f"/proc/{pid}")
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0  # the gateway port is closed


@needs_java
def test_jvm_ends_with_the_interpreter_without_explicit_shutdown():
    pytest.importorskip("scienceworld")
    code = (
        "from rememberer.tasks.scienceworld import env as E\n"
        "print(E.engine().java_pid, flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    pid = int(out.stdout.split()[0])
    import time

    for _ in range(50):
        if not os.path.exists(f"/proc/{pid}"):
            break
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{pid}")


@needs_java
def test_cli_trains_and_evaluates_scienceworld_with_the_controlled_policy(sw, tmp_path, monkeypatch, request):
    from rememberer.cli import main
    from rememberer.fakes import AdviceFollowingModel
    from rememberer.nodes import resources

    import rememberer.tasks as task_registry

    monkeypatch.chdir(tmp_path)
    # The CLI passes no ScienceWorld options; the environment variable turns the valid-action
    # list on (the advice-following policy checks advice against it).
    monkeypatch.setenv("REMEMBERER_SCIENCEWORLD_VALID_ACTIONS", "1")
    task_registry._load.cache_clear()
    request.addfinalizer(task_registry._load.cache_clear)
    monkeypatch.setattr(resources, "load_model", lambda *a, **k: AdviceFollowingModel(default="look around"))
    common = ["--task", "scienceworld", "--memory-dir", str(tmp_path / "mem"), "--runs-dir", str(tmp_path / "runs"),
              "--max-steps", "4", "--decoding", "generate"]
    assert main(["train", *common, "--train-split", "train_transfer", "--train-goals", "2", "--epochs", "1"]) == 0
    assert main(["eval", *common, "--test-split", "test_transfer", "--test-goals", "2"]) == 0
    episodes = [json.loads(line) for p in (tmp_path / "runs").glob("*/episodes.jsonl") for line in p.read_text().splitlines()]
    assert len(episodes) == 4
    assert {e["phase"] for e in episodes} == {"train", "eval"}
    # the pool's first gold action from the hallway is copied by the advice-following policy
    assert any(e["actions"] and e["actions"][0].startswith("open door to") for e in episodes)


@needs_java
@pytest.mark.slow
def test_pinned_variations_and_pool_are_current(sw):
    """make_data --check: the package's splits and the gold-path pool regenerate identically (~25 s)."""
    from rememberer.tasks.scienceworld.make_data import main

    assert main(["--check"]) == 0
