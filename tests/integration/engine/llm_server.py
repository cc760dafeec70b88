"""A local stand-in for an OpenAI-compatible endpoint: `POST /v1/chat/completions` answered as
that protocol does (choices, message, usage), on 127.0.0.1, so the worker's llm steps run
exactly as against a real provider; only the far end is ours.

What it answers depends on the request's `model`:

* `echo`: the user message back as the content;
* `json`: a JSON object (`{"category": "billing", "asked": <user message>}`), as a model asked
  for `response_format: json_object` would;
* `prose`: text that is not JSON;
* `busy-<key>`: 429 (with Retry-After: 1) the first time for each key, then as `echo`;
* `status-<code>`: that status, with an OpenAI-style error body;
* `slow-<key>`: the first time for each key, answers as `echo` only after `SLOW_SECONDS` (a
  call in flight long enough to kill the worker making it), then at once.

Every request is kept in `requests` (its headers and JSON body).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLOW_SECONDS = 5.0
USAGE = {"prompt_tokens": 1200, "completion_tokens": 300, "total_tokens": 1500}


@dataclass
class ChatServer:
    url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def of_model(self, model: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["body"].get("model") == model]

    def answer(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, str], dict[str, Any]]:
        self.requests.append({"path": path, "headers": headers, "body": body})
        if path != "/v1/chat/completions":
            return 404, {}, _error(f"no route {path}", "not_found")
        model = str(body.get("model"))
        self.hits[model] += 1
        user = next(
            (m["content"] for m in reversed(body.get("messages") or []) if m["role"] == "user"),
            "",
        )
        if model.startswith("status-"):
            code = int(model.removeprefix("status-"))
            return code, {}, _error(f"model {model!r} refused the request", "invalid_request")
        if model.startswith("busy-") and self.hits[model] == 1:
            return 429, {"Retry-After": "1"}, _error("Rate limit reached", "rate_limit")
        if model.startswith("slow-") and self.hits[model] == 1:
            time.sleep(SLOW_SECONDS)
        if model == "json":
            content = json.dumps({"category": "billing", "asked": user})
        elif model == "prose":
            content = "Sure! It is about billing."
        else:
            content = user
        return 200, {}, _completion(model, content)


def _completion(model: str, content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1_700_000_000,
        "model": f"{model}-2026-01-01",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": dict(USAGE),
    }


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


@contextmanager
def chat_server() -> Iterator[ChatServer]:
    server_state = ChatServer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b"{}"
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, extra, payload = server_state.answer(self.path, headers, json.loads(raw))
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in extra.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server_state
    finally:
        server.shutdown()
        server.server_close()
