"""A local HTTP endpoint for the secrets and outbound tests: it keeps every request it gets,
echoes the Authorization header back (as an endpoint that quotes its request would), sets a
cookie, answers redirects on `/redirect?to=<url>` and redirects `/loop` to itself forever."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorder:
    requests: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""
    port: int = 0


@contextmanager
def echo_server(host: str = "127.0.0.1") -> Iterator[Recorder]:
    recorder = Recorder()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            headers = {name.lower(): value for name, value in self.headers.items()}
            parts = urlsplit(self.path)
            recorder.requests.append(
                {"method": self.command, "path": self.path, "headers": headers, "body": body}
            )
            query = parse_qs(parts.query)
            if parts.path == "/loop":
                query = {"to": ["/loop"]}
            if parts.path in ("/redirect", "/loop") and "to" in query:
                self.send_response(int(query.get("status", ["302"])[0]))
                self.send_header("Location", query["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            data = json.dumps(
                {"ok": True, "echo": headers.get("authorization"), "path": parts.path}
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Set-Cookie", "session=abc123; HttpOnly")
            self.send_header("X-Request-Id", "req-42")
            self.send_header("X-Internal-Host", "db-7.internal")
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    recorder.port = int(server.server_address[1])
    recorder.url = f"http://{host}:{recorder.port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()
