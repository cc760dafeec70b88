"""Local stand-ins for the outside world: an SMTP server (aiosmtpd) and an HTTP endpoint.

Both are real servers on 127.0.0.1, so the engine's delivery code runs exactly as in
production; only the far end is ours.
"""

from __future__ import annotations

import json
import socket
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Mailbox:
    """Every message the SMTP server accepted."""

    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if address in str(m["To"])]


@contextmanager
def smtp_server() -> Iterator[tuple[str, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", mailbox
    finally:
        controller.stop()


@dataclass
class Endpoint:
    """Scripted answers by path: `/ok…` answers 200 with JSON echoing the request, `/flaky/<key>`
    answers 503 until it has failed `failures[key]` times, `/status/<code>` answers that code.
    Every request is kept in `requests`."""

    failures: dict[str, int] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    url: str = ""

    def answer(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Any]:
        text = body.decode() if body else ""
        self.requests.append({"method": method, "path": path, "headers": headers, "body": text})
        self.hits[path] += 1
        parts = path.strip("/").split("/")
        if parts[0] == "flaky":
            if self.hits[path] <= self.failures.get(parts[1], 0):
                return 503, {"error": "try later"}
            return 200, {"ok": True, "attempt": self.hits[path]}
        if parts[0] == "status":
            return int(parts[1]), {"error": f"status {parts[1]}"}
        return 200, {
            "ok": True,
            "method": method,
            "json": json.loads(text) if text else None,
            "token": headers.get("x-token"),
        }


@contextmanager
def http_endpoint() -> Iterator[Endpoint]:
    endpoint = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, payload = endpoint.answer(self.command, self.path, headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
