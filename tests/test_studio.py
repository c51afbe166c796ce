"""``langgraph dev`` (the server behind LangGraph Studio) serving the graph from langgraph.json,
driven through the official ``langgraph_sdk`` client with a scripted model chosen by the run's
context. Binds 127.0.0.1 only and stops the server at the end (bounded in time)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    langgraph = shutil.which("langgraph", path=str(Path(sys.executable).parent)) or shutil.which("langgraph")
    if langgraph is None:
        pytest.skip("langgraph-cli[inmem] is not installed (it is in the test extra)")
    port = _free_port()
    env = {**os.environ, "LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGSMITH_TRACING": "false", "ANONYMIZED_TELEMETRY": "False"}
    env.pop("OPENAI_API_KEY", None)
    log = open(tmp_path / "server.log", "w")
    process = subprocess.Popen(
        [langgraph, "dev", "--config", str(ROOT / "langgraph.json"), "--host", "127.0.0.1", "--port", str(port),
         "--no-browser", "--no-reload", "--allow-blocking"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        import httpx

        deadline = time.monotonic() + 40
        while True:
            if process.poll() is not None:
                pytest.fail("langgraph dev exited:\n" + (tmp_path / "server.log").read_text()[-3000:])
            try:
                if httpx.get(url + "/ok", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("langgraph dev did not start in 40 s:\n" + (tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.3)
        yield url, tmp_path
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        log.close()


def undescribed(schema, where):
    """Fields (of the schema and of its $defs) without a description."""
    out = [f"{where}.{k}" for k, v in schema.get("properties", {}).items() if not v.get("description")]
    for name, sub in schema.get("$defs", {}).items():
        out += undescribed(sub, f"{where}.{name}")
    return out


def test_studio_server_streams_an_episode_with_described_schemas(server):
    import httpx
    from langgraph_sdk import get_client

    from rememberer.graph.state import EpisodeState

    url, tmp = server
    context = {"task_set": "chain", "model": "fake:advice", "memory_dir": str(tmp / "memory"), "max_steps": 12}

    async def session():
        client = get_client(url=url)
        assistant = (await client.assistants.search(graph_id="rememberer"))[0]
        schemas = await client.assistants.get_schemas(assistant["assistant_id"])
        thread = await client.threads.create()
        updates = []
        async for part in client.runs.stream(thread["thread_id"], assistant["assistant_id"], input={"goal_id": "corridor-4"},
                                             context=context, stream_mode="updates"):
            if part.event == "updates":
                updates.append(part.data)
            assert part.event != "error", part.data
        state = await client.threads.get_state(thread["thread_id"])
        # A second run on the same thread starts from the stored checkpoint (read through the
        # server's per-run copy of the graph): its records must come back typed, not blocked.
        await client.runs.wait(thread["thread_id"], assistant["assistant_id"], input={"goal_id": "corridor-3"}, context=context)
        errors = []
        for bad in ({**context, "gama": 0.5}, {**context, "api_key": "sk-typed-in-studio"}, {**context, "gamma": 2},
                    {**context, "model": "nonsense"}, {**context, "model": "fake:nope"}):
            try:
                await client.runs.wait(None, assistant["assistant_id"], input={"goal_id": "corridor-3"}, context=bad)
            except httpx.HTTPStatusError as exc:
                assert exc.response.status_code == 422
                errors.append(exc.response.json()["detail"])
        return schemas, updates, state, errors

    schemas, updates, state, errors = asyncio.run(asyncio.wait_for(session(), timeout=60))
    nodes = [next(iter(u)) for u in updates]
    assert nodes[:5] == ["reset", "retrieve", "advise", "call_model", "parse"]
    assert nodes.count("step_env") == 3 and nodes[-1] == "backup"
    assert updates[-1]["backup"]["backup"]["records_written"] == 3
    values = state["values"]
    assert values["success"] and [s["action"] for s in values["steps"]] == ["move right"] * 3

    context_schema = schemas["context_schema"]
    assert "api_key" not in context_schema["properties"]
    assert not [k for k in context_schema["properties"] if k.endswith("_instance")]
    assert all(p.get("description") for p in context_schema["properties"].values())
    for name in ("input_schema", "output_schema", "state_schema", "context_schema"):
        assert not undescribed(schemas[name], name)
    assert schemas["output_schema"]["properties"]["task"]["description"].startswith("Task text")
    state_schema = schemas["state_schema"]
    assert set(state_schema["properties"]) == set(EpisodeState.__annotations__)
    assert state_schema["properties"]["steps"]["items"] == {"$ref": "#/$defs/StepRecord"}
    assert state_schema["properties"]["step_count"]["type"] == "integer"

    assert len(errors) == 5, errors
    assert "unknown context key(s) 'gama'" in errors[0]
    assert "OPENAI_API_KEY" in errors[1]
    assert "gamma (--gamma) must be ≤ 1.0, got 2" in errors[2]
    assert errors[3].startswith("unknown model spec 'nonsense'") and "fake:advice" in errors[3]  # refused before the run
    assert "unknown fake model spec 'fake:nope'" in errors[4]
    log = (Path(server[1]) / "server.log").read_text()
    assert "unregistered type" not in log.lower() and "blocked deserialization" not in log.lower()
