"""The agent in LCEL pipelines, in a parent graph with its own state and context, and as a tool."""

from __future__ import annotations

import asyncio
import json
import operator
from dataclasses import dataclass
from typing import Annotated

import pytest
from langchain_core.runnables import RunnableLambda
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from rememberer.embedding import agent, episode_runnable, episode_tool
from rememberer.fakes import AdviceFollowingModel
from rememberer.graph import AgentContext
from rememberer.tasks import load_task_set
from rememberer.tasks.sessions import EnvironmentSessions


@pytest.fixture
def context(memory_factory):
    corridor = load_task_set("chain")
    memory = memory_factory(namespace="chain", observation_similarity=corridor.observation_similarity)
    # A 12-step cap: the whole episode takes more than LangChain's default recursion limit of 25.
    return AgentContext(task_set="chain", model_instance=AdviceFollowingModel(default="move right"), memory_instance=memory,
                        task_set_instance=corridor, sessions_instance=EnvironmentSessions(corridor.make_env), max_steps=12)


def test_lcel_invoke_batch_and_stream(context):
    pipe = RunnableLambda(lambda goal: f"corridor-{goal}") | episode_runnable(context) | RunnableLambda(
        lambda r: f"{r['goal_id']}: {'solved' if r['success'] else 'failed'} in {r['steps']}")
    assert pipe.invoke(7) == "corridor-7: solved in 6"  # 6 decisions = 40 graph steps, graph steps, far beyond 25
    assert pipe.batch([3, 4]) == ["corridor-3: solved in 2", "corridor-4: solved in 3"]
    assert list(pipe.stream(5)) == ["corridor-5: solved in 4"]


def test_the_bound_agent_streams_states_not_node_updates(context):
    states = list(agent(context).stream({"goal_id": "corridor-3"}))
    assert all("goal_id" in s for s in states) and states[-1]["success"]


def test_async_and_events(context):
    async def go():
        result = await episode_runnable(context).ainvoke("corridor-3")
        kinds = set()
        nodes = []
        async for event in episode_runnable(context).astream_events("corridor-4", version="v2"):
            kinds.add(event["event"])
            if event["event"] == "on_chain_end" and event["name"] == event.get("metadata", {}).get("langgraph_node"):
                nodes.append(event["metadata"]["langgraph_node"])
        return result, kinds, nodes

    result, kinds, nodes = asyncio.run(go())
    assert result["success"] and json.dumps(result)
    assert {"on_chain_start", "on_chain_end", "on_chat_model_start"} <= kinds
    assert nodes[:3] == ["reset", "retrieve", "advise"] and nodes.count("step_env") == 3 and "backup" in nodes


@dataclass
class ParentContext:
    user: str


class ParentState(TypedDict, total=False):
    goals: list[str]
    results: Annotated[list[dict], operator.add]
    greeting: str


def test_parent_graph_with_its_own_state_and_context(context):
    play = episode_runnable(context)

    def greet(state: ParentState, runtime: Runtime[ParentContext]) -> dict:
        return {"greeting": f"hello {runtime.context.user}"}

    def play_all(state: ParentState) -> dict:
        return {"results": play.batch(state["goals"])}

    parent = StateGraph(ParentState, context_schema=ParentContext)
    parent.add_node("greet", greet)
    parent.add_node("play", play_all)
    parent.add_edge(START, "greet")
    parent.add_edge("greet", "play")
    parent.add_edge("play", END)
    out = parent.compile().invoke({"goals": ["corridor-3", "corridor-6"]}, context=ParentContext(user="ada"))
    assert out["greeting"] == "hello ada"
    assert [(r["goal_id"], r["success"]) for r in out["results"]] == [("corridor-3", True), ("corridor-6", True)]


def test_the_runnable_is_a_node_of_a_parent_graph(context):
    class Parent(TypedDict, total=False):
        goal_id: str
        success: bool
        steps: int

    parent = StateGraph(Parent, context_schema=ParentContext)
    parent.add_node("agent", episode_runnable(context) | RunnableLambda(lambda r: {"success": r["success"], "steps": r["steps"]}))
    parent.add_edge(START, "agent")
    parent.add_edge("agent", END)
    out = parent.compile().invoke({"goal_id": "corridor-4"}, context=ParentContext(user="bob"))
    assert out == {"goal_id": "corridor-4", "success": True, "steps": 3}


def test_as_a_tool_of_create_agent(context):
    from langchain.agents import create_agent
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    class ToolCallingFake(GenericFakeChatModel):
        def bind_tools(self, tools, **kwargs):
            return self

    model = ToolCallingFake(messages=iter([
        AIMessage(content="", tool_calls=[{"name": "play_episode", "args": {"goal_id": "corridor-3"}, "id": "call-1"}]),
        AIMessage(content="The agent reached the end in 2 steps."),
    ]))
    tool = episode_tool(context)
    assert set(tool.args) == {"goal_id"} and "corridor-3" in tool.description
    app = create_agent(model, tools=[tool])
    out = app.invoke({"messages": [{"role": "user", "content": "play corridor-3"}]})
    tool_message = next(m for m in out["messages"] if m.type == "tool")
    result = json.loads(tool_message.content)
    assert result["success"] and result["steps"] == 2 and result["actions"] == ["move right"] * 2
    assert len(tool_message.content) < 600
    assert out["messages"][-1].content.startswith("The agent reached the end")


def test_bad_input_is_a_clear_error(context):
    with pytest.raises(ValueError, match="expected a goal id"):
        episode_runnable(context).invoke(42)


def test_checkpoints_deserialize_the_state_types_without_warnings(context, caplog):
    import logging

    from rememberer.graph import builder, checkpointer, recursion_limit

    app = builder.compile(checkpointer=checkpointer())
    config = {"configurable": {"thread_id": "t1"}, "recursion_limit": recursion_limit(12)}
    with caplog.at_level(logging.DEBUG):
        app.invoke({"goal_id": "corridor-3"}, context=context, config=config)
        steps = app.get_state(config).values["steps"]
    assert type(steps[0]).__name__ == "StepRecord" and steps[0].action == "move right"
    assert not [r for r in caplog.records if "unregistered" in r.getMessage().lower()]


def test_studio_schemas_are_described_and_hide_secrets_and_instances():
    from rememberer.graph import graph

    def undescribed(schema, where):
        out = [f"{where}.{k}" for k, v in schema.get("properties", {}).items() if not v.get("description")]
        for name, sub in schema.get("$defs", {}).items():
            out += undescribed(sub, name)
        return out

    context = graph.get_context_jsonschema()
    assert not undescribed(graph.get_input_jsonschema(), "input")
    assert not undescribed(graph.get_output_jsonschema(), "state")
    assert not undescribed(context, "context")
    assert "api_key" not in context["properties"] and not any(k.endswith("_instance") for k in context["properties"])
    assert context["additionalProperties"] is False
    assert context["properties"]["gamma"]["maximum"] == 1.0


def test_unknown_context_keys_are_rejected(context):
    with pytest.raises(ValueError, match="unknown context key.*'gama'.*known keys: .*gamma"):
        AgentContext(gama=0.9)
    with pytest.raises(ValueError, match=r"^unknown context key\(s\) 'modle' \(did you mean 'model'\?\); known keys: "):
        AgentContext(modle="fake:advice")
    with pytest.raises(ValueError, match=r"'gama', 'xyzzy' \(did you mean 'gama' → 'gamma'\?\); known"):
        AgentContext(gama=0.9, xyzzy=1)


STRICT_COPIES = r"""
import json, logging, sys, tempfile
logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
from langgraph.checkpoint.memory import InMemorySaver
from rememberer.fakes import AdviceFollowingModel
from rememberer.graph import AgentContext, builder, graph, recursion_limit
from rememberer.memory import ExperienceMemory, HashingEmbedder
from rememberer.tasks import load_task_set
from rememberer.tasks.sessions import EnvironmentSessions

corridor = load_task_set("chain")
memory = ExperienceMemory(tempfile.mkdtemp(), namespace="chain", embedder=HashingEmbedder(),
                          observation_similarity=corridor.observation_similarity)
context = AgentContext(task_set="chain", model_instance=AdviceFollowingModel(), memory_instance=memory,
                       task_set_instance=corridor, sessions_instance=EnvironmentSessions(corridor.make_env), max_steps=12)
derived = {
    # what `langgraph dev` does for every run: a copy of the served graph with its own checkpointer
    "server copy": graph.copy({"checkpointer": InMemorySaver()}),
    "with_config": builder.compile(checkpointer=InMemorySaver()).with_config(recursion_limit=60),
    "copy of a copy": graph.copy({"checkpointer": InMemorySaver()}).copy().with_config(tags=["x"]),
}
out = {}
for name, app in derived.items():
    config = {"configurable": {"thread_id": name}, "recursion_limit": recursion_limit(12)}
    app.bind(context=context).invoke({"goal_id": "corridor-3"}, config=config)
    out[name] = sorted({type(s).__name__ for s in app.get_state(config).values["steps"]})
print(json.dumps(out))
"""


def test_copies_of_the_graph_keep_the_checkpoint_allowlist_under_strict_msgpack(tmp_path):
    """Strict msgpack (as langgraph.json sets it): LangGraph's copy() drops a compiled graph's
    allowlist, and the state's records would come back as dicts ("Blocked deserialization")."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "LANGGRAPH_STRICT_MSGPACK": "true", "ANONYMIZED_TELEMETRY": "False"}
    done = subprocess.run([sys.executable, "-c", STRICT_COPIES], env=env, cwd=tmp_path, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {name: ["StepRecord"] for name in
                                                                 ("server copy", "with_config", "copy of a copy")}
    assert "blocked" not in done.stderr.lower() and "unregistered" not in done.stderr.lower(), done.stderr[-3000:]


def test_derived_graphs_read_checkpoints_without_warnings(context, caplog):
    import logging

    from rememberer.graph import builder, checkpointer, recursion_limit

    app = builder.compile(checkpointer=checkpointer())
    config = {"configurable": {"thread_id": "t2"}, "recursion_limit": recursion_limit(12)}
    derived = app.copy().with_config(tags=["derived"])
    with caplog.at_level(logging.DEBUG):
        derived.bind(context=context).invoke({"goal_id": "corridor-3"}, config=config)
        steps = derived.get_state(config).values["steps"]
    assert {type(s).__name__ for s in steps} == {"StepRecord"}
    assert not [r for r in caplog.records if "unregistered" in r.getMessage().lower()]


@pytest.mark.parametrize("how", ["no context", "a parent's context"])
def test_a_raw_graph_without_its_context_names_what_to_pass(how, memory_factory):
    from rememberer.graph import graph

    if how == "no context":
        call = lambda: graph.invoke({"goal_id": "corridor-3"})  # noqa: E731
        got = "got no context"
    else:
        @dataclass
        class Team:
            owner: str

        class Plan(TypedDict, total=False):
            goal_id: str

        parent = StateGraph(Plan, context_schema=Team)
        parent.add_node("agent", graph)  # the raw graph as a subgraph: the parent's context reaches it
        parent.add_edge(START, "agent")
        call = lambda: parent.compile().invoke({"goal_id": "corridor-3"}, context=Team(owner="ada"))  # noqa: E731
        got = "got a context of type Team"
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert got in message and "context=AgentContext(" in message and "rememberer.embedding.agent(context)" in message
    assert "NoneType" not in message and "attribute" not in message
