"""The OpenAI-compatible path end to end against a stand-in server on loopback.

A small stdlib HTTP server speaks the two OpenAI routes langchain-openai uses (chat and
completions) and answers with the first available action, so the real client, the CLI and a
full run are exercised without any network beyond 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rememberer.cli import main


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def do_POST(self):  # noqa: N802 - http.server API
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.requests.append({"path": self.path, **body})
        prompt = body["messages"][-1]["content"] if "messages" in body else body["prompt"]
        if isinstance(prompt, list):
            prompt = prompt[0]
        new_input = prompt.rsplit("Now the new input:", 1)[-1]
        actions = re.findall(r"^- (.+)$", new_input.split("Available Actions:", 1)[-1], re.M)
        action = actions[0] if actions else "search[something]"
        if action.endswith("[...]"):
            action = action[:-4] + "ottoman]"
        answer = f"{action} -> 0.9 the first available action"
        usage = {"prompt_tokens": 100, "completion_tokens": 9, "total_tokens": 109}
        if "messages" in body:
            payload = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"], "usage": usage,
                       "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}]}
        else:
            payload = {"id": "x", "object": "text_completion", "created": 0, "model": body["model"], "usage": usage,
                       "choices": [{"index": 0, "finish_reason": "stop", "text": answer, "logprobs": None}]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


@pytest.mark.parametrize("spec", ["openai:stand-in", "openai-completion:stand-in"])
def test_run_through_an_openai_compatible_endpoint(spec, endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["run", "--task", "chain", "--model", spec, "--base-url", endpoint, "--train-goals", "1",
                 "--test-goals", "1", "--epochs", "1", "--memory-dir", str(tmp_path / "memory")])
    assert code == 0, capsys.readouterr().err
    summary = json.loads(next((tmp_path / "runs").glob("*/summary.json")).read_text())
    assert summary["phases"]["train"]["success_rate"] == 1.0  # "move right" is listed first
    assert summary["model_id"] == f"{spec.partition(':')[0]}:stand-in"
    assert summary["memory"]["records"] >= 2
    routes = {r["path"] for r in _Handler.requests}
    assert routes == ({"/v1/chat/completions"} if spec.startswith("openai:") else {"/v1/completions"})


def test_webshop_episode_through_an_endpoint(endpoint, tmp_path, monkeypatch, capsys):
    pytest.importorskip("nltk")
    from rememberer.tasks import TaskError, load_task_set

    try:
        load_task_set("webshop")
    except TaskError as exc:
        pytest.skip(str(exc))
    monkeypatch.chdir(tmp_path)
    code = main(["train", "--task", "webshop", "--model", "openai:stand-in", "--base-url", endpoint,
                 "--train-goals", "1", "--epochs", "1", "--max-steps", "3", "--memory-dir", str(tmp_path / "memory")])
    assert code == 0, capsys.readouterr().err
    episode = json.loads(next((tmp_path / "runs").glob("*/episodes.jsonl")).read_text().splitlines()[0])
    assert episode["actions"][0] == "search[ottoman]" and episode["steps"] == 3 and episode["fallbacks"] == 0
    assert episode["backup"]["records_written"] >= 2  # a revisited search page shares its key
