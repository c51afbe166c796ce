"""Goal-relative memory keys: TextCraft's roles, the mapping back to concrete actions, and
experience from one goal reaching another it never saw (real environment, real Chroma)."""

from __future__ import annotations

import json

import pytest

from rememberer.cli import main
from rememberer.fakes import controlled_policy, scripted
from rememberer.runner import Run, RunSettings
from rememberer.tasks import load_task_set
from rememberer.tasks.base import VERBATIM, pool_record_keys
from rememberer.tasks.textcraft.env import item_id
from rememberer.tasks.textcraft.keys import CRAFT_GOAL, OFF_TREE_CRAFT, OFF_TREE_GET
from rememberer.tasks.textcraft.oracle import plan


@pytest.fixture(scope="module")
def textcraft():
    return load_task_set("textcraft")


def _walk(textcraft, goal):
    """(observation, action) along the oracle's plan for ``goal``."""
    env = textcraft.make_env()
    obs = env.reset(goal)
    out = []
    for action in plan(item_id(goal)):
        out.append((obs, action))
        obs = env.step(action)
    assert obs.success
    return out


def test_the_oracle_stays_on_the_tree_and_rarely_repeats_a_finished_step(textcraft):
    """The keys agree with the scripted solver: it never leaves the goal's tree, and all but a
    few of its steps acquire something still needed ("done" marks its detours, e.g. birch sign:
    it makes acacia planks for a stick though the birch planks held would do)."""
    keys = textcraft.goal_keys
    kinds = []
    for goal in textcraft.goals("test"):
        steps = _walk(textcraft, goal)
        mine = [keys.action_key(a, o.task, o.observation, o.context) for o, a in steps]
        assert mine[-1] == CRAFT_GOAL
        kinds += mine
        for obs, _ in steps[:3]:
            assert all(keys.relevant(a, obs.task, obs.observation, obs.context) ==
                       (keys.action_key(a, obs.task, obs.observation, obs.context) not in (OFF_TREE_CRAFT, OFF_TREE_GET))
                       for a in obs.valid_actions)
    assert not any(k in (OFF_TREE_CRAFT, OFF_TREE_GET) for k in kinds)
    assert sum("(done)" in k for k in kinds) <= 0.01 * len(kinds)  # 4 of 613 steps


def test_keys_name_roles_not_items_so_two_goals_of_one_shape_share_them(textcraft):
    keys = textcraft.goal_keys
    birch, oak = _walk(textcraft, "birch trapdoor"), _walk(textcraft, "oak trapdoor")
    assert len(birch) == len(oak)
    for (ob, ab), (oo, ao) in zip(birch, oak):
        assert ob.observation != oo.observation or ob.observation == "Inventory: empty"
        assert keys.state_key(ob.task, ob.observation, ob.context) == keys.state_key(oo.task, oo.observation, oo.context)
        assert keys.action_key(ab, ob.task, ob.observation, ob.context) == keys.action_key(ao, oo.task, oo.observation, oo.context)
    # a distractor recipe the inventory can pay for is off the tree
    obs = birch[-1][0]
    off = [a for a in obs.valid_actions if keys.action_key(a, obs.task, obs.observation, obs.context) == OFF_TREE_CRAFT]
    assert off and all("trapdoor" not in a for a in off)


def test_advice_keys_map_back_to_the_actions_valid_now(textcraft):
    keys = textcraft.goal_keys
    obs, _ = _walk(textcraft, "oak trapdoor")[-1]
    assert keys.concretize(CRAFT_GOAL, obs.task, obs.observation, obs.context, obs.valid_actions) == [
        "craft 2 oak trapdoor using 6 oak planks"]
    assert keys.concretize("a key nobody uses", obs.task, obs.observation, obs.context, obs.valid_actions) == []
    assert keys.concretize(CRAFT_GOAL, obs.task, obs.observation, obs.context, None) == []
    assert VERBATIM.concretize("anything", "t", "o", "", None) == ["anything"]
    assert keys.observation_similarity("a 1 b 2", "a 1 b 2") == 1.0
    assert keys.observation_similarity("a 1 b 2", "a 1 b 3") == pytest.approx(0.5)
    assert keys.observation_similarity("a 1 b 2", "a 1") == 0.0


def test_the_initial_pool_is_imported_under_the_goal_relative_keys(textcraft):
    pool = json.loads(textcraft.initial_pool.read_text())
    first = pool_record_keys(textcraft.goal_keys, pool["records"][0])
    assert first["task"].startswith("Goal: craft an item whose tree has") and first["observation"].startswith("Still needed")
    assert {a["action"] for a in first["actions"]} <= {"get a base ingredient (missing)", OFF_TREE_GET}
    assert first["action_history"] == [] and len(first["valid_actions"]) <= 3


def _settings(tmp_path, **knobs) -> RunSettings:
    return RunSettings(task_set="textcraft", memory_dir=str(tmp_path / "mem"), runs_dir=str(tmp_path / "runs"),
                       run_name=knobs.pop("run_name", "r"), train_goals=1, test_goals=1, epochs=1, **knobs)


def test_experience_on_one_goal_solves_an_unseen_goal_of_the_same_shape(tmp_path, textcraft):
    """Trained once on 'jungle trapdoor' (train_pool) by a scripted oracle, the frozen memory's
    advice alone (controlled policy, p = 1) solves 'birch trapdoor' (test) step by step; with
    verbatim keys (the paper's) the same experience gives no applicable advice there."""
    for scheme, expect in (("goal-relative", True), ("verbatim", False)):
        answers = [f"{a} -> 1.0 the plan" for a in plan(item_id("jungle trapdoor"))]
        trainer = Run(_settings(tmp_path, memory_keys=scheme, run_name=f"train-{scheme}", random_advice=False),
                      model=scripted(*answers), task_set=textcraft)
        trainer.train(["jungle trapdoor"], 1)
        assert trainer.results[-1].success
        assert trainer.memory.namespace == ("textcraft.roles" if scheme == "goal-relative" else "textcraft")
        tester = Run(_settings(tmp_path, memory_keys=scheme, run_name=f"test-{scheme}", random_advice=False, max_steps=5),
                     model=controlled_policy("scripted:p=1,seed=0"), task_set=textcraft)
        tester.evaluate(["birch trapdoor"])
        result = tester.results[-1]
        steps = [json.loads(line) for line in (tmp_path / "runs" / f"test-{scheme}" / "trajectories.jsonl").read_text().splitlines()]
        followed = [s for s in steps[-1]["steps"] if s["reason"] == "following the advice"]
        if expect:
            assert result.success and result.steps == 5 and len(followed) == 5
            assert steps[-1]["steps"][0]["action"] == "get 1 birch logs"
        else:
            assert not followed  # nothing learned on jungle wood applies to birch


def test_prune_actions_offers_only_the_goals_tree(tmp_path, textcraft):
    run = Run(_settings(tmp_path, prune_actions=True, max_steps=4, use_memory=False),
              model=controlled_policy("scripted:p=0,seed=1"), task_set=textcraft)
    run.evaluate(["birch trapdoor"])
    keys = textcraft.goal_keys
    trajectory = json.loads((tmp_path / "runs" / "r" / "trajectories.jsonl").read_text().splitlines()[-1])
    shown = [(s["task"], s["observation"], s["valid_actions"]) for s in trajectory["steps"]]
    assert shown and all(keys.relevant(a, t, o, "") for t, o, valid in shown for a in valid)
    env = textcraft.make_env()
    env.reset("birch trapdoor")
    env.step("get 1 birch logs")
    full = env.step("craft 4 birch planks using 1 birch logs").valid_actions
    assert any(not keys.relevant(a, "Goal: craft birch trapdoor.", "Inventory: [birch planks] (4)", "") for a in full)


def test_the_memory_cli_opens_the_scheme_asked_for(tmp_path, capsys, textcraft):
    Run(_settings(tmp_path, max_steps=2), model=controlled_policy("scripted:p=0,seed=1"), task_set=textcraft).train(["birch trapdoor"], 1)
    assert main(["memory", "stats", "--task", "textcraft", "--memory-dir", str(tmp_path / "mem"), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["namespace"] == "textcraft.roles" and stats["records"] > 0
    assert main(["memory", "stats", "--task", "textcraft", "--keys", "verbatim", "--memory-dir", str(tmp_path / "mem")]) == 2
    assert "no memory for 'textcraft'" in capsys.readouterr().err


def test_pooled_q_is_the_similarity_weighted_mean_over_the_retrieved_records():
    from types import SimpleNamespace

    from rememberer.memory.records import ExperienceRecord
    from rememberer.nodes.retrieve import pooled_q, with_pooled_q

    def record(**qs):
        return ExperienceRecord(task="t", observation="o", actions=[{"action": a, "q": q, "visits": 1} for a, q in qs.items()])

    near, far = record(a=1.0, b=0.0), record(a=0.0, c=0.5)
    pooled = pooled_q([SimpleNamespace(record=near, score=0.75), SimpleNamespace(record=far, score=0.25)])
    assert pooled == pytest.approx({"a": 0.75, "b": 0.0, "c": 0.5})
    copy = with_pooled_q(far, pooled)
    assert [e.q for e in copy.actions] == pytest.approx([0.75, 0.5]) and far.actions[0].q == 0.0  # the stored record is untouched


def test_a_memory_of_the_other_key_scheme_is_refused_with_a_clear_error(tmp_path, textcraft):
    from rememberer.graph import AgentContext, graph
    from rememberer.nodes.resources import open_memory

    verbatim = open_memory(textcraft, tmp_path / "mem", keys="verbatim")
    ctx = AgentContext(task_set="textcraft", task_set_instance=textcraft, memory_instance=verbatim,
                       model_instance=controlled_policy("scripted:p=1"), max_steps=1)
    with pytest.raises(ValueError, match="memory_keys='verbatim'"):
        graph.invoke({"goal_id": "birch trapdoor"}, context=ctx)
    ctx.memory_keys = "verbatim"
    assert len(graph.invoke({"goal_id": "birch trapdoor"}, context=ctx)["steps"]) == 1


def test_a_cut_episode_bootstraps_from_its_final_state_under_the_same_keys(tmp_path, textcraft, monkeypatch):
    from rememberer.graph import AgentContext, graph
    from rememberer.nodes.resources import open_memory

    memory = open_memory(textcraft, tmp_path / "mem")
    seen = []
    original = memory.apply_episode
    monkeypatch.setattr(memory, "apply_episode", lambda episode, config: seen.append(episode) or original(episode, config))
    ctx = AgentContext(task_set="textcraft", task_set_instance=textcraft, memory_instance=memory, n_step=1, gamma=0.9,
                       model_instance=scripted("get 1 birch logs -> 1.0 go", "craft 4 birch planks using 1 birch logs -> 1.0 go"),
                       max_steps=2)
    out = graph.invoke({"goal_id": "birch trapdoor"}, context=ctx)
    assert out["truncated"] and len(seen) == 1
    final = seen[0].final_observation
    assert final == textcraft.goal_keys.state_key(out["task"], out["observation"], out["context"])[1]
    assert final.startswith("Still needed for the goal:") and seen[0].transitions[0].observation.startswith("Still needed")


def test_goal_first_layout_puts_the_episode_constant_part_first_and_changes_no_decision(tmp_path, textcraft):
    """'goal-first' moves the goal and its crafting commands before the exemplars: every prompt of
    an episode then starts with the same text (the local model's KV cache reuses it), and an
    advice-following policy makes exactly the decisions it makes under the paper's layout."""
    episodes = {}
    for layout in ("paper", "goal-first"):
        run = Run(_settings(tmp_path, prompt_layout=layout, run_name=layout, save_prompts=True, max_steps=6),
                  model=controlled_policy("scripted:p=1,seed=0"), task_set=textcraft)
        run.evaluate(["birch trapdoor"])
        episodes[layout] = json.loads((tmp_path / "runs" / layout / "trajectories.jsonl").read_text().splitlines()[-1])["steps"]
    assert [s["action"] for s in episodes["paper"]] == [s["action"] for s in episodes["goal-first"]]
    commands = "  Crafting commands:"
    prompts = [s["prompt"] for s in episodes["goal-first"] if s["exemplar_ids"]]
    assert len(prompts) >= 2
    heads = {p.split("\nHere are some examples:", 1)[0] for p in prompts}
    assert len(heads) == 1 and commands in heads.pop()  # one constant prefix, holding the commands
    for p in prompts:
        assert p.count(commands) == 1 and p.index(commands) < p.index("\nNow the new input:")
        assert "\nThe goal of the new input:\n" in p and p.rstrip().endswith("Encouraged:")
    for s in episodes["paper"]:
        if s["exemplar_ids"]:
            assert s["prompt"].index(commands) > s["prompt"].index("\nNow the new input:")


class _RankingFake(controlled_policy("scripted:p=0,seed=0").__class__):
    """A model that ``rank`` decoding scores: every action equally likely, so advice decides."""

    def score_actions(self, prompt, actions, suffix=" ->"):
        return {a: -1.0 for a in actions}


def test_memory_keeps_the_advice_reason_not_the_ranking_scores_or_the_key(tmp_path, textcraft):
    """``rank`` decoding follows an exemplar's advice; what memory then stores as the reason is
    that advice's reason, unchanged: not the score diagnostics of the decision log and not the
    '(key)' the prompt shows before it. Reasons therefore do not grow with every reuse."""
    run = Run(_settings(tmp_path, save_prompts=True, max_steps=8, random_advice=False),
              model=_RankingFake(), task_set=textcraft)
    run.train(["jungle trapdoor"], 3)
    steps = [s for line in (tmp_path / "runs" / "r" / "trajectories.jsonl").read_text().splitlines()
             for s in json.loads(line)["steps"]]
    assert any("(advice" in s["raw_outputs"][0] for s in steps)  # the decision log keeps the scores
    followed = [s for s in steps if s["reason"]]
    assert followed, "no step followed advice"
    shown = [s for s in followed if f"({s['memory_action']}) {s['reason']}"[:60] in s["prompt"]]
    assert shown  # the prompt shows the key before the advice's reason
    pool = json.loads(textcraft.initial_pool.read_text())
    pool_reasons = {a["reason"] for r in (pool["records"] if isinstance(pool, dict) else pool) for a in r["actions"]}
    reasons = [a.reason for record in run.memory.records() for a in record.actions]
    assert reasons
    for reason in reasons:
        assert "(advice" not in reason and "log p" not in reason and not reason.startswith("(")
        assert reason in pool_reasons or reason == ""
