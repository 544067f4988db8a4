"""A tiny loopback HTTP proxy in front of the real server: it can fail the first N requests with a
chosen status, play a dead server (`down`: every connection dropped unanswered, as when the process
dies), and it counts requests and the most it saw in flight at once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class FaultyProxy:
    def __init__(self, upstream: str, fail_first: int = 0, fail_status: int = 503) -> None:
        self.upstream = upstream.rstrip("/")
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.down = False
        self.dropped = 0
        self.requests = 0
        self.peak_in_flight = 0
        self._in_flight = 0
        self._lock = threading.Lock()
        self._http = httpx.Client(timeout=120)

    def _enter(self) -> bool:
        """Count a request; True when it should be failed."""
        with self._lock:
            self.requests += 1
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            if self.fail_first > 0:
                self.fail_first -= 1
                return True
            return False

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Run the proxy on a free loopback port; yields its base URL (…/v1)."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: object) -> None:
                pass

            def _relay(self) -> None:
                if proxy.down:
                    with proxy._lock:
                        proxy.dropped += 1
                    self.close_connection = True  # no status line at all: the peer is gone
                    return
                fail = proxy._enter()
                # A request leaves the count before its answer is written: once the client has read
                # the answer it may send the next one, which must not overlap this one in the count.
                try:
                    length = int(self.headers.get("content-length") or 0)
                    body = self.rfile.read(length) if length else b""
                    if fail:
                        status = proxy.fail_status
                        payload = b'{"error": {"message": "injected failure", "code": %d}}' % status
                        content_type = "application/json"
                    else:
                        headers = {
                            k: v
                            for k, v in self.headers.items()
                            if k.lower() in ("authorization", "content-type")
                        }
                        upstream = proxy._http.request(
                            self.command, proxy.upstream + self.path, content=body, headers=headers
                        )
                        status, payload = upstream.status_code, upstream.content
                        content_type = upstream.headers.get("content-type", "application/json")
                finally:
                    proxy._leave()
                self._answer(status, payload, content_type)

            def _answer(self, status: int, payload: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _relay

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}/v1"
        finally:
            server.shutdown()
            server.server_close()
            self._http.close()
