"""The environment's state machine, action validation, matcher and pools."""

from __future__ import annotations

import json

import pytest
from rememberer.tasks.base import Observation, TaskEnvironment, TaskError
from rememberer.tasks.webshop import load_task_set
from rememberer.tasks.webshop.make_pools import (
    TRAJECTORIES,
    build_pool,
    dump,
    pool_path,
)
from rememberer.tasks.webshop.matcher import (
    GOODS,
    OTHER,
    RESULTS,
    SEARCH,
    UNKNOWN,
    observation_page_type,
    page_similarity,
    page_type,
)
from rememberer.tasks.webshop.oracle import run_oracle
from rememberer.tasks.webshop.pages import parse_actions

GOAL = "515"  # training goal with two options (colour, size); its product ranks 3rd below
QUERY = "search[women swimsuit tummy control teen girls]"


def test_reset_shows_the_search_page(env):
    assert isinstance(env, TaskEnvironment)
    obs = env.reset(GOAL)
    assert isinstance(obs, Observation)
    assert obs.task == "Instruction: " + env.goals[GOAL].instruction_text
    assert obs.observation.startswith("WebShop\nInstruction:\n")
    assert obs.observation.endswith("[Search]\n\nAvailable actions:\n- search")
    assert obs.valid_actions == ("search[...]",)
    assert (obs.reward, obs.done, obs.success, obs.feedback, obs.context) == (0.0, False, False, "", "")
    with pytest.raises(TaskError):
        env.reset("no-such-goal")


def test_invalid_actions_are_noops_with_feedback(env):
    start = env.reset(GOAL)
    for action in ("click[search]", "buy it", "click[buy now]", "search[]", "", "click[]"):
        obs = env.step(action)
        assert obs.feedback and obs.reward == 0 and not obs.done
        assert obs.observation == start.observation
    results = env.step(QUERY)
    obs = env.step("search[something else]")  # no search box on a results page
    assert "back to search" in obs.feedback and obs.observation == results.observation


def test_browse_choose_options_and_buy(env):
    env.reset(GOAL)
    goal = env.goals[GOAL]
    obs = env.step(QUERY)
    assert obs.feedback == "" and "Page 1 (Total results: 50)" in obs.observation
    actions = parse_actions(obs.observation)
    assert actions[:2] == ["back to search", "next >"] and len(actions) == 5
    assert obs.valid_actions == tuple(f"click[{a}]" for a in actions)
    target = goal.asin.lower()
    assert target in actions
    # page 2 and back
    page2 = env.step("click[next >]")
    assert "Page 2 (Total results: 50)" in page2.observation and "[< Prev]" in page2.observation
    assert env.step("click[< prev]").observation == obs.observation
    item = env.step(f"click[{target}]")
    assert "[Buy Now]" in item.observation and "click[buy now]" in item.valid_actions
    # options: one value per group, later click overwrites
    env.step("click[pink]")
    chosen = env.step("click[yellow]")
    assert "color [pink][[yellow]]" in chosen.observation
    assert chosen.observation.startswith("You have clicked yellow.\nInstruction:")
    # sub-pages keep the chosen options
    desc = env.step("click[description]")
    assert parse_actions(desc.observation) == ["back to search", "< prev"]
    assert env.step("click[< prev]").observation == chosen.observation
    env.step("click[small]")
    done = env.step("click[buy now]")
    assert done.done and done.success and done.reward == 1.0
    assert env.last_reward_info["r_option"] == 1.0
    assert done.valid_actions == ()
    after = env.step("click[back to search]")
    assert after.done and after.reward == 0 and after.feedback


def test_wrong_purchase_scores_less(env):
    env.reset(GOAL)
    obs = env.step(QUERY)
    other = [a for a in parse_actions(obs.observation)[2:] if a != env.goals[GOAL].asin.lower()][0]
    env.step(f"click[{other}]")
    done = env.step("click[buy now]")
    assert done.done and not done.success and 0.0 <= done.reward < 1.0


def test_back_to_search_forgets_visited_items(env):
    env.reset(GOAL)
    env.step(QUERY)
    env.step("click[back to search]")
    results = env.step(QUERY)
    asin = parse_actions(results.observation)[2]
    env.step(f"click[{asin}]")
    again = env.step("click[< prev]")
    assert f"[[{asin.upper()}]]" in again.observation
    env.step("click[back to search]")
    fresh = env.step(QUERY)
    assert f"[[{asin.upper()}]]" not in fresh.observation


def test_search_anywhere_option(data_dir):
    env = load_task_set(data_dir, search_anywhere=True).make_env()
    env.reset(GOAL)
    obs = env.step(QUERY)
    assert "search[...]" in obs.valid_actions
    assert env.step("search[hdmi cable]").feedback == ""


def test_page_types_and_similarity(env):
    env.reset(GOAL)
    pages = {"search": env.reset(GOAL).observation}
    pages["results"] = env.step(QUERY).observation
    pages["results2"] = env.step("click[next >]").observation
    env.step("click[< prev]")
    pages["item"] = env.step(f"click[{env.goals[GOAL].asin.lower()}]").observation
    pages["sub"] = env.step("click[features]").observation
    assert observation_page_type(pages["search"]) == SEARCH
    assert observation_page_type(pages["results"]) == RESULTS
    assert observation_page_type(pages["results2"]) == RESULTS  # the fixed quirk
    assert page_type(parse_actions(pages["results2"]), strict_remember=True) == UNKNOWN
    assert page_type(parse_actions(pages["results"]), strict_remember=True) == RESULTS
    assert observation_page_type(pages["item"]) == GOODS
    assert observation_page_type(pages["sub"]) == OTHER
    assert page_similarity(pages["item"], pages["sub"]) == pytest.approx(0.3)
    assert page_similarity(pages["results"], pages["results2"]) == 1.0
    assert page_similarity(pages["search"], pages["results"]) == 0.0
    assert page_similarity("no actions block here", pages["search"]) == 0.0
    assert load_task_set().observation_similarity(pages["search"], pages["search"]) == 1.0


def test_pools_are_consistent_with_the_renderer(data_dir, goals):
    ts = load_task_set(data_dir)
    train = set(ts.splits["train"]) | set(ts.splits["train_s1"])
    for traj in TRAJECTORIES:
        path = pool_path(traj.pool)
        text = path.read_text(encoding="utf-8")
        assert text == dump(build_pool(traj, str(data_dir))), f"{path.name} is stale: run make_pools"
        pool = json.loads(text)
        assert pool["format"] == "rememberer-pool/1" and pool["task_set"] == "webshop"
        assert traj.goal_id in train
        records = pool["records"]
        assert len(records) >= 4
        kinds = [observation_page_type(r["observation"]) for r in records]
        assert kinds[:3] == [SEARCH, RESULTS, GOODS] and set(kinds[3:]) == {GOODS}
        assert records[-1]["actions"][0]["action"] == "click[buy now]"
        zero = [a for r in records for a in r["actions"] if a["q"] == 0.0]
        assert len(zero) == 1 and zero[0]["action"] == "click[search]"
        for i, record in enumerate(records):
            assert record["task"] == "Instruction: " + goals[traj.goal_id].instruction_text
            assert record["action_history"] == [r["actions"][0]["action"] for r in records[:i]]
            assert record["actions"][0]["q"] == 1.0 and record["actions"][0]["reason"]


def test_oracle_solves_the_test_goals(env, data_dir):
    test = load_task_set(data_dir).splits["test"]
    results = [run_oracle(env, goal_id) for goal_id in test]
    rate = sum(r.success for r in results) / len(results)
    print(f"\noracle: reward 1.0 on {rate:.0%} of the {len(results)} test goals; "
          f"max steps {max(len(r.actions) for r in results)}")
    assert rate >= 0.95
    assert all(len(r.actions) <= 15 for r in results)
    human = [run_oracle(env, goal_id) for goal_id in load_task_set(data_dir).splits["human"]]
    assert all(r.success for r in human)
