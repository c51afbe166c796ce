"""The HTTP app ``langgraph dev`` / LangGraph Studio loads next to the graph (``langgraph.json``).

The LangGraph API server drops context keys that are not in the graph's context schema, with
only a debug log: a typo such as ``"gama": 0.5`` in Studio's context panel would silently run
with γ = 1. This middleware answers such a run request with HTTP 422 and one clear line
instead, using the same check as :class:`AgentContext` itself. It also refuses an ``api_key``
in the context: keys come from the server's environment (``OPENAI_API_KEY``), so a key typed
into Studio is never stored with a run.

It also completes the ``state_schema`` of ``GET /assistants/{id}/schemas``: the server builds
that one from the graph's channels with every field typed ``Any`` and undescribed, while the
graph's own state schema (:class:`rememberer.graph.state.EpisodeState`, what
``graph.get_output_jsonschema()`` returns) has each field's type and description. The served
state schema is replaced by it when both name the same fields, so Studio's state view is
described like the input, output and context.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

from starlette.applications import Starlette

from rememberer.graph.context import AgentContext, unknown_keys_message

RUN_PATHS = re.compile(r"^(/threads/[^/]+)?/runs(/stream|/wait|/batch)?/?$")
SCHEMA_PATH = re.compile(r"^/assistants/[^/]+/schemas/?$")


def described_state_schema(served: Any) -> Any:
    """The graph's described state schema in place of the server's untyped one (same fields only)."""
    from rememberer.graph.builder import graph

    ours = graph.get_output_jsonschema()
    if isinstance(served, dict) and set(served.get("properties", {})) == set(ours.get("properties", {})):
        return ours
    return served


def context_problem(context: Any) -> str | None:
    """Why a run's context cannot be used, or None."""
    if context is None:
        return None
    if not isinstance(context, dict):
        return "context must be a JSON object"
    visible = {f.name for f in fields(AgentContext) if not (f.metadata.get("hidden") or f.metadata.get("secret"))}
    if "api_key" in context:
        return "api_key is not accepted in the context: set OPENAI_API_KEY in the server's environment"
    unknown = sorted(set(context) - visible)
    if unknown:
        return unknown_keys_message(unknown, sorted(visible))
    try:
        AgentContext(**context)
    except (TypeError, ValueError) as exc:
        return f"bad context: {exc}"
    if isinstance(context.get("model"), str):
        from rememberer.nodes.models import model_spec_problem

        return model_spec_problem(context["model"])
    return None


class ContextCheck:
    """Pure ASGI middleware: reads a run request's body once, checks its context, replays it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and SCHEMA_PATH.match(scope["path"]):
            await self._schemas(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] != "POST" or not RUN_PATHS.match(scope["path"]):
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        problem = None
        try:
            payload = json.loads(body or b"{}")
        except ValueError:
            payload = None  # the API answers malformed JSON itself
        if isinstance(payload, list):  # /runs/batch
            problem = next((p for p in (context_problem(r.get("context")) for r in payload if isinstance(r, dict)) if p), None)
        elif isinstance(payload, dict):
            problem = context_problem(payload.get("context"))
        if problem:
            data = json.dumps({"detail": problem}).encode()
            await send({"type": "http.response.start", "status": 422,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
            await send({"type": "http.response.body", "body": data})
            return
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _schemas(self, scope: dict, receive: Any, send: Any) -> None:
        """Hold the schemas response, swap in the described state schema, send it on."""
        start: dict | None = None
        chunks: list[bytes] = []

        async def capture(message: dict) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [(k, v) for k, v in start["headers"] if k.lower() != b"content-length"]
            encoded = any(k.lower() == b"content-encoding" for k, _ in headers)
            if start["status"] == 200 and not encoded:
                try:
                    payload = json.loads(body)
                    payload["state_schema"] = described_state_schema(payload.get("state_schema"))
                    body = json.dumps(payload).encode()
                except (ValueError, TypeError, AttributeError):
                    pass
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, capture)


app = Starlette()
app.add_middleware(ContextCheck)
