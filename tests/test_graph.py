"""The episode state machine with fake models, real Chroma and the corridor task."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from rememberer.fakes import AdviceFollowingModel, BrokenModel, scripted

from rememberer.graph import AgentContext, builder, graph, recursion_limit, route_after_parse, route_after_step
from rememberer.graph.state import Candidate
from rememberer.memory import HashingEmbedder
from rememberer.nodes.models import ModelUnavailableError
from rememberer.tasks import load_task_set
from rememberer.tasks.sessions import EnvironmentSessions

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def corridor():
    return load_task_set("chain")


@pytest.fixture
def make_context(memory_factory, corridor):
    def make(model, **knobs):
        memory = knobs.pop("memory", None)
        if memory is None:  # (an empty memory is falsy: it has a length)
            memory = memory_factory(namespace="chain", observation_similarity=corridor.observation_similarity)
        return AgentContext(
            task_set="chain",
            model_instance=model,
            memory_instance=memory,
            task_set_instance=corridor,
            sessions_instance=EnvironmentSessions(corridor.make_env),
            **knobs,
        )

    return make


def run(ctx, goal="corridor-3", **extra):
    return graph.invoke({"goal_id": goal, **extra}, context=ctx, config={"recursion_limit": recursion_limit(12)})


def test_routers():
    assert route_after_parse({"chosen": None, "raw_outputs": ["x"]}) == "call_model"
    assert route_after_parse({"chosen": None, "raw_outputs": ["x", "y"]}) == "step_env"
    assert route_after_parse({"chosen": Candidate(action="a", q=1), "raw_outputs": ["x"]}) == "step_env"
    assert route_after_step({"done": False, "truncated": False}) == "retrieve"
    assert route_after_step({"done": True, "training": True}) == "backup"
    assert route_after_step({"truncated": True, "training": False}) == "__end__"


def test_successful_episode_records_steps_and_backs_up(make_context):
    ctx = make_context(scripted("move right -> 0.9 closer", "wait -> 0.2 meh\nmove right -> 0.8 done soon"))
    out = run(ctx)
    assert out["success"] and out["done"] and out["total_reward"] == 1.0
    assert [s.action for s in out["steps"]] == ["move right", "move right"]
    last = out["steps"][-1]
    assert last.predicted_q == 0.8 and last.reward == 1.0 and [c.action for c in last.candidates] == ["move right", "wait"]
    assert "Example 1" not in out["steps"][0].prompt  # empty memory: no exemplars yet
    assert out["backup"]["records_written"] == 2 and out["backup"]["targets"] == [1.0, 1.0]
    record = ctx.memory_instance.get(out["steps"][0].task, out["steps"][0].observation)
    assert record.action("move right").q == 1.0 and record.action("move right").reason == "closer"


def test_malformed_answer_gets_one_corrected_retry(make_context):
    model = scripted("I think I should go right", "move right -> 0.7 ok")
    out = run(make_context(model, max_steps=1))
    first = out["steps"][0]
    assert first.raw_outputs == ["I think I should go right", "move right -> 0.7 ok"]
    assert first.action == "move right" and out["retries"] == 1 and out["fallbacks"] == 0


def test_unusable_answers_fall_back_to_a_recorded_noop(make_context):
    ctx = make_context(scripted("fly -> 1.0 wings"), max_steps=3)
    out = run(ctx)
    assert out["truncated"] and not out["success"]
    assert out["fallbacks"] == 3 and all(s.action is None for s in out["steps"])
    assert "not a valid action" in out["steps"][0].fallback
    assert out["observation"] == "You are in cell 1 of 3."  # the environment never moved
    assert out["backup"]["records_written"] == 0 and len(ctx.memory_instance) == 0


def test_model_errors_are_recorded_not_raised(make_context):
    out = run(make_context(BrokenModel(responses=["unused"]), max_steps=2))
    assert out["fallbacks"] == 2 and "model exploded" in out["steps"][0].fallback


def test_unreachable_endpoint_aborts_with_a_clear_error(make_context):
    class APIConnectionError(Exception):
        pass

    class Unreachable(BrokenModel):
        def _call(self, *args, **kwargs):
            raise APIConnectionError("Connection refused")

    with pytest.raises(ModelUnavailableError, match="Connection refused"):
        run(make_context(Unreachable(responses=["unused"])))


def test_frozen_memory_is_not_updated(make_context):
    ctx = make_context(scripted("move right -> 1.0 go"), training=False)
    out = run(ctx)
    assert out["success"] and out["backup"] == {} and len(ctx.memory_instance) == 0


def test_step_cap_truncates_and_the_backup_bootstraps_only_in_n_step_mode(make_context):
    ctx = make_context(scripted("wait -> 0.1 hmm"), max_steps=4)
    out = run(ctx, goal="corridor-5")
    assert out["truncated"] and out["step_count"] == 4 and len(out["steps"]) == 4
    assert out["backup"]["targets"] == [0.0] * 4


def test_agent_learns_from_failure_and_success(make_context, memory_factory, tmp_path, corridor):
    """A model that only copies advice solves the corridor once memory has explored it.

    Exploration comes from the random advice, so the check runs over eight advice seeds (with
    fixed episode ids, hence deterministic): the first episode always fails, and in most seeds
    the last three episodes all succeed.
    """
    learned = 0
    for seed in range(8):
        memory = memory_factory(path=tmp_path / f"seed-{seed}", observation_similarity=corridor.observation_similarity)
        ctx = make_context(AdviceFollowingModel(default="wait"), max_steps=6, seed=seed, memory=memory)
        results = [run(ctx, goal="corridor-4", episode_id=f"seed{seed}-ep{i}")["success"] for i in range(12)]
        assert not results[0]  # empty memory: the model waits until the cap
        learned += all(results[-3:])
    assert learned >= 6, learned
    empty = memory_factory(path=tmp_path / "empty", observation_similarity=corridor.observation_similarity)
    frozen = make_context(AdviceFollowingModel(default="wait"), max_steps=6, training=False, memory=empty)
    assert not any(run(frozen, goal="corridor-4")["success"] for _ in range(3))


def test_memory_can_be_disabled_for_the_baseline(make_context):
    ctx = make_context(scripted("move right -> 1.0 go"))
    run(ctx)
    off = make_context(scripted("move right -> 1.0 go"), memory=ctx.memory_instance, use_memory=False)
    out = run(off)
    assert all("Example 1" not in s.prompt for s in out["steps"])
    on = make_context(scripted("move right -> 1.0 go"), memory=ctx.memory_instance)
    assert "Example 1" in run(on)["steps"][0].prompt


def test_exemplars_fit_the_token_budget(make_context):
    ctx = make_context(scripted("move right -> 1.0 go"))
    run(ctx)
    tight = make_context(scripted("move right -> 1.0 go"), memory=ctx.memory_instance, token_budget=60, top_m=2)
    out = run(tight)
    assert "Example 2" not in out["steps"][0].prompt


def test_compiles_with_a_checkpointer_and_exposes_state(make_context):
    from langgraph.checkpoint.memory import InMemorySaver

    app = builder.compile(checkpointer=InMemorySaver())
    ctx = make_context(scripted("move right -> 1.0 go"))
    config = {"configurable": {"thread_id": "t1"}, "recursion_limit": recursion_limit(12)}
    app.invoke({"goal_id": "corridor-3"}, context=ctx, config=config)
    snapshot = app.get_state(config)
    assert snapshot.values["success"] and len(list(app.get_state_history(config))) > 5


def test_resumed_episode_rebuilds_its_environment(make_context, corridor):
    """A fresh session table (another process) replays the executed actions."""
    from langgraph.checkpoint.memory import InMemorySaver

    app = builder.compile(checkpointer=InMemorySaver(), interrupt_before=["step_env"])
    ctx = make_context(scripted("move right -> 1.0 go"))
    config = {"configurable": {"thread_id": "resume"}, "recursion_limit": recursion_limit(12)}
    app.invoke({"goal_id": "corridor-4"}, context=ctx, config=config)  # stops before step 0
    app.invoke(None, context=ctx, config=config)  # step 0, stops before step 1
    fresh = make_context(scripted("move right -> 1.0 go"), memory=ctx.memory_instance)
    out = app.invoke(None, context=fresh, config=config)
    while not out.get("done"):
        out = app.invoke(None, context=fresh, config=config)
    assert out["success"] and out["action_history"] == ["move right"] * 3


def test_graph_module_imports_without_side_effects(tmp_path):
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    code = "import socket\n" \
        "def refuse(*a, **k): raise RuntimeError('network used at import')\n" \
        "socket.socket.connect = refuse\n" \
        "from graph import graph\n" \
        "from langgraph.graph.state import CompiledStateGraph\n" \
        "print(type(graph).__name__, isinstance(graph, CompiledStateGraph))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "EpisodeGraph True"  # a CompiledStateGraph whose copies keep the allowlist
    assert not any(tmp_path.iterdir()) and not (ROOT / ".rememberer").exists()
