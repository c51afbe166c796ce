"""The HTTP app ``langgraph dev`` / LangGraph Studio loads next to the graph (``langgraph.json``).

The LangGraph API server drops context keys that are not in the graph's context schema, with
only a debug log: a typo such as ``"gama": 0.5`` in Studio's context panel would silently run
with γ = 1. This middleware answers such a run request with HTTP 422 and one clear line
instead, using the same check as :class:`AgentContext` itself. It also refuses an ``api_key``
in the context: keys come from the server's environment (``OPENAI_API_KEY``), so a key typed
into Studio is never stored with a run.
"""

from __future__ import annotations

import json
import re
from dataclasses import fields
from typing import Any

from starlette.applications import Starlette

from rememberer.graph.context import AgentContext

RUN_PATHS = re.compile(r"^(/threads/[^/]+)?/runs(/stream|/wait|/batch)?/?$")


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
        return f"unknown context key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(sorted(visible))}"
    try:
        AgentContext(**context)
    except (TypeError, ValueError) as exc:
        return f"bad context: {exc}"
    return None


class ContextCheck:
    """Pure ASGI middleware: reads a run request's body once, checks its context, replays it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
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


app = Starlette()
app.add_middleware(ContextCheck)
