"""A scriptable HTTP server on 127.0.0.1 for the exchange-client tests.

Each path answers with its scripted actions in order (the last one repeats): JSON or HTML
replies with any status and headers, TCP resets, bodies cut mid-way, slow answers.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

Action = Callable[[BaseHTTPRequestHandler], None]


def reply(status: int, body, headers: dict | None = None, content_type="application/json"):
    """Answer with a body (dict/list -> JSON) and an exact Content-Length."""
    data = (body if isinstance(body, str) else json.dumps(body)).encode()

    def act(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(data)

    return act


def html(status: int, text="<html><body><h1>502 Bad Gateway</h1>cloudflare</body></html>"):
    return reply(status, text, content_type="text/html")


def reset(handler: BaseHTTPRequestHandler) -> None:
    """Drop the connection with a TCP RST (SO_LINGER 0) before answering."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


def cut(body: str, declared: int) -> Action:
    """Promise ``declared`` bytes, send fewer, then close: a body cut mid-way."""

    def act(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(declared))
        handler.end_headers()
        handler.wfile.write(body.encode())
        handler.close_connection = True

    return act


def slow(delay: float, then: Action) -> Action:
    def act(handler: BaseHTTPRequestHandler) -> None:
        time.sleep(delay)
        then(handler)

    return act


class ScriptedServer:
    """Each path answers with its scripted actions in order; the last one repeats."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Action]] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with owner.lock:
                    owner.requests.append(
                        {
                            "path": parts.path,
                            "query": parse_qs(parts.query),
                            "headers": dict(self.headers),
                            "port": self.client_address[1],
                        }
                    )
                    script = owner.scripts.get(parts.path, [reply(404, {"message": "NotFound"})])
                    action = script.pop(0) if len(script) > 1 else script[0]
                try:
                    action(self)
                except OSError:
                    self.close_connection = True

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # resets are on purpose
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def script(self, path: str, *actions: Action) -> None:
        self.scripts[path] = list(actions)

    def hits(self, path: str) -> int:
        return sum(1 for r in self.requests if r["path"] == path)


class Recorder:
    """A limiter that records what the client charged and observed."""

    def __init__(self) -> None:
        self.acquired: list[int] = []
        self.observed: list[str | None] = []

    def acquire(self, weight: int = 1) -> float:
        self.acquired.append(weight)
        return 0.0

    def observe(self, headers) -> None:
        self.observed.append(headers.get("X-MBX-USED-WEIGHT-1M"))
