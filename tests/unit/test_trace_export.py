"""`scriptorium trace export`: a finished run's spans sent to an OTLP/HTTP collector on loopback
(a stand-in that keeps what it is sent; Phoenix takes the same requests at /v1/traces)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.events import MemoryQuery, ModelRequest, StepStarted, ToolCall, read_trace

RECORDED = Path(__file__).parents[1] / "data" / "runs" / "paper"


class _Collector(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append((self.path, body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[str]:
    _Collector.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_finished_run_is_sent_as_spans_with_openinference_kinds(collector: str, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(RECORDED, run)
    result = CliRunner().invoke(app, ["trace", "export", str(run), "--endpoint", collector])
    assert result.exit_code == 0, result.output
    assert "/v1/traces" in result.output
    spans = []
    for path, body in _Collector.received:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        spans += [s for r in request.resource_spans for scope in r.scope_spans for s in scope.spans]
    events = list(read_trace(run / "trace.jsonl"))
    expected = 1 + sum(isinstance(e, StepStarted | ModelRequest | ToolCall | MemoryQuery) for e in events)
    assert len(spans) == expected
    kinds = {a.value.string_value for s in spans for a in s.attributes if a.key == "openinference.span.kind"}
    assert kinds == {"CHAIN", "LLM", "TOOL", "RETRIEVER"}


def test_export_without_a_collector_or_a_run_is_refused_clearly(tmp_path: Path) -> None:
    runner = CliRunner()
    nowhere = runner.invoke(app, ["trace", "export", str(RECORDED)])
    assert nowhere.exit_code == 2 and "--endpoint" in nowhere.output
    not_a_run = runner.invoke(app, ["trace", "export", str(tmp_path), "--endpoint", "http://127.0.0.1:9"])
    assert not_a_run.exit_code == 2 and "no trace.jsonl" in not_a_run.output
