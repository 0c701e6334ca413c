"""HTTP plumbing shared by the simulators: threading server, faults, latency and counters."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from schemahub_core.sim.settings import Settings

JSON = "application/json;charset=utf-8"
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center>\n"
    b"</body></html>\n"
)


@dataclass
class Response:
    """One HTTP response as produced by an exchange app."""

    status: int
    body: bytes
    content_type: str = JSON
    headers: dict[str, str] = field(default_factory=dict)


class App(Protocol):
    """What an exchange simulator implements on top of the shared server."""

    def handle(self, path: str, params: list[tuple[str, str]], headers: Any) -> Response:
        """Answer one GET request."""
        ...

    def fault_response(self, kind: str) -> Response:
        """The exchange's own body for an injected `429`, `5xx`, `html` (or Kraken) fault."""
        ...


class Stats:
    """Thread-safe counters of what a simulator served."""

    def __init__(self) -> None:
        """All counters at zero."""
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.requests = 0
            self.paths: Counter[str] = Counter()
            self.status: Counter[int] = Counter()
            self.faults: Counter[str] = Counter()
            self.weight_per_minute: dict[int, int] = {}  # epoch minute -> weight used

    @property
    def responses_429(self) -> int:
        """How many 429 (rate limited) responses were sent."""
        return self.status[429]

    @property
    def responses_418(self) -> int:
        """How many 418 (IP banned) responses were sent."""
        return self.status[418]

    def record_request(self, path: str) -> None:
        """Count one request to `path`."""
        with self._lock:
            self.requests += 1
            self.paths[path] += 1

    def record(self, status: int | None = None, fault: str | None = None) -> None:
        """Count a response status and/or an injected fault."""
        with self._lock:
            if status is not None:
                self.status[status] += 1
            if fault is not None:
                self.faults[fault] += 1

    def add_weight(self, minute: int, used: int) -> None:
        """Record the weight used so far in epoch minute `minute`."""
        with self._lock:
            self.weight_per_minute[minute] = used

    def snapshot(self) -> dict[str, Any]:
        """A plain-dict copy of every counter."""
        with self._lock:
            return {
                "requests": self.requests,
                "paths": dict(self.paths),
                "status": dict(self.status),
                "faults": dict(self.faults),
                "weight_per_minute": dict(self.weight_per_minute),
            }


class SimServer(ThreadingHTTPServer):
    """A ThreadingHTTPServer bound to one exchange app."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: App, settings: Settings, stats: Stats):
        """Bind `address` now (port 0: a free one); `app` answers, `stats` counts."""
        self.app = app
        self.settings = settings
        self.stats = stats
        self.verbose = False
        super().__init__(address, Handler)


class Handler(BaseHTTPRequestHandler):
    """Routes GET/HEAD to the app, with latency and faults applied around it."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls
    server: SimServer

    def do_GET(self) -> None:
        """Serve a GET request."""
        self._serve(head=False)

    def do_HEAD(self) -> None:
        """Serve a HEAD request (same headers as GET, no body)."""
        self._serve(head=True)

    def log_message(self, format: str, *args: Any) -> None:
        """Access log on stderr only when the server runs verbose (the CLI)."""
        if self.server.verbose:
            super().log_message(format, *args)

    def _serve(self, head: bool) -> None:
        server = self.server
        split = urlsplit(self.path)
        path = split.path
        params = parse_qsl(split.query, keep_blank_values=True)
        delay = server.settings.draw_latency()
        fault = server.settings.draw_fault(path)
        server.stats.record_request(path)
        server.stats.record(fault=fault)
        if fault == "reset":
            self._reset()
            return
        if fault == "slow":
            delay += server.settings.slow_seconds
        if delay:
            time.sleep(delay)
        try:
            if fault in ("html", "5xx", "429", "unavailable", "busy"):
                response = server.app.fault_response(fault)
            else:
                response = server.app.handle(path, params, self.headers)
        except Exception:  # a simulator bug must show up as a loud 500, not a hang
            traceback.print_exc(file=sys.stderr)
            body = b'{"message":"simulator bug, see its stderr"}'
            response = Response(500, body)
        server.stats.record(status=response.status)
        self._send(response, head, truncate=fault == "truncate")

    def _send(self, response: Response, head: bool, truncate: bool) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if head:
            return
        if truncate:
            # Promise the full length, deliver half, hang up: the client sees a cut body.
            self.wfile.write(response.body[: len(response.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(response.body)

    def _reset(self) -> None:
        """Drop the connection with a TCP RST and no response at all."""
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True


def serve_in_thread(server: SimServer) -> threading.Thread:
    """Run `server` in a daemon thread and return the thread."""
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.05},
        name="schemahub-sim",
        daemon=True,
    )
    thread.start()
    return thread
