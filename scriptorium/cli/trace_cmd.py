"""`scriptorium trace export RUN_DIR`: send a finished run's trace to an OpenTelemetry collector
(Arize Phoenix, Jaeger, any OTLP/HTTP endpoint), as the spans it would have sent live."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ..events import CorruptLine, read_trace
from ._common import console, settings_from

__all__ = ["register"]

trace_app = typer.Typer(help="Export run traces.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(trace_app, name="trace")


@trace_app.command("export")
def export(
    ctx: typer.Context,
    run_dirs: Annotated[list[Path], typer.Argument(help="Run folders (or batch task folders).")],
    endpoint: Annotated[
        str | None,
        typer.Option(
            help="OTLP/HTTP collector, e.g. http://127.0.0.1:6006 for Phoenix (default: [otel] endpoint)."
        ),
    ] = None,
) -> None:
    """Replay each run's trace.jsonl into spans (their own times) and send them."""
    from ..events.otel import OtelSink, otlp_tracer

    url = endpoint or settings_from(ctx).otel.endpoint
    if not url:
        raise ConfigError("no collector to send to", hint="give --endpoint URL, or set [otel] endpoint")
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--endpoint '{url}' is not an http(s) URL", hint="e.g. http://127.0.0.1:6006")
    traces = [run_dir / "trace.jsonl" for run_dir in run_dirs]
    missing = [str(t.parent) for t in traces if not t.is_file()]
    if missing:
        raise ConfigError(f"not a run folder (no trace.jsonl): {', '.join(missing)}")
    tracer, provider = otlp_tracer(url)
    sink = OtelSink(tracer)
    try:
        for trace in traces:
            events = [e for e in read_trace(trace) if not isinstance(e, CorruptLine)]
            for event in events:
                sink.handle(event)
            console.print(f"{trace.parent}: {len(events)} events")
    finally:
        provider.force_flush()
        provider.shutdown()
    console.print(f"sent to {url.rstrip('/')}/v1/traces")
