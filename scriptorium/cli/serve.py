"""`scriptorium serve`: the managed vLLM server in the foreground or the background."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..config import Settings
from ..errors import ServerNotRunning
from ..serving.server import ManagedServer, replica_servers
from ..serving.state import ServerState, read_state
from ._common import console, settings_from


def register(app: typer.Typer) -> None:
    app.command()(serve)


def serve(
    ctx: typer.Context,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Start in the background and return.")
    ] = False,
    status: Annotated[bool, typer.Option("--status", help="Show the background server, if any.")] = False,
    stop: Annotated[bool, typer.Option("--stop", help="Stop the background server.")] = False,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8765).")] = None,
    model_path: Annotated[
        Path | None, typer.Option(help="Serve this Hugging Face folder instead of the bundled model.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            help="`base`: the bundled model without the shipped paper adapter; or a registered "
            "fine-tune (its merged folder). Default: the bundled model with the paper adapter.",
        ),
    ] = None,
    lora: Annotated[
        list[str] | None,
        typer.Option("--lora", help="Also serve this registered fine-tune as a LoRA adapter (repeatable)."),
    ] = None,
    python: Annotated[
        Path | None, typer.Option(help="Python of the serving venv (the one with vllm installed).")
    ] = None,
    max_num_seqs: Annotated[int | None, typer.Option(help="Requests vLLM batches at once.")] = None,
    max_model_len: Annotated[int | None, typer.Option(help="Context length to serve.")] = None,
    replicas: Annotated[
        int, typer.Option(min=1, help="Servers of the model to start, on consecutive ports.")
    ] = 1,
) -> None:
    """Run the bundled model (or yours) behind vLLM's OpenAI-compatible API on 127.0.0.1."""
    settings = settings_from(
        ctx,
        server={
            "port": port,
            "model_path": model_path,
            "model": model,
            "adapters": lora or None,
            "python": python,
            "max_num_seqs": max_num_seqs,
            "max_model_len": max_model_len,
        },
    )
    server = ManagedServer(settings)
    if status:
        found = [state for s in replica_servers(settings) if (state := s.running()) is not None]
        if not found:
            console.print(f"no managed server is running (state dir {settings.state_dir})")
            raise typer.Exit(ServerNotRunning.exit_code)
        for state in found:
            console.print(_describe(state, settings.config_dir))
        return
    if stop:
        servers = replica_servers(settings)
        for index, managed in reversed(list(enumerate(servers))):
            if index == 0 or read_state(managed.state_dir) is not None:
                stopped = managed.stop()
                console.print(f"stopped the server at {stopped.base_url} (pid {stopped.pid})")
        return
    if settings.endpoint_urls:
        console.print(f"model servers are configured ({', '.join(settings.endpoint_urls)}): nothing to start")
        return
    if replicas > 1:
        _serve_replicas(settings, replicas, detach)
        return
    with console.status("preparing the model and starting vLLM…") as spinner:

        def progress(elapsed: float, line: str) -> None:
            spinner.update(f"starting vLLM… {elapsed:.0f}s  [dim]{line[-90:]}[/]")

        state, started = server.ensure(progress)
    if not started:
        console.print(f"already serving at [bold]{state.base_url}[/] (pid {state.pid}); attached")
        return
    adapters = f" with adapters {', '.join(state.adapters)}" if state.adapters else ""
    console.print(f"serving [bold]{state.model}[/]{adapters} at [bold]{state.base_url}[/] (pid {state.pid})")
    if detach:
        console.print("running in the background; `scriptorium serve --stop` stops it")
        return
    console.print("press Ctrl-C to stop")
    try:
        code = server.wait()
    except KeyboardInterrupt:
        console.print("stopping…")
        server.stop()
        console.print("stopped")
        return
    server.stop()  # it exited on its own: clear its state
    raise typer.Exit(code or 1)


def _serve_replicas(settings: Settings, count: int, detach: bool) -> None:
    """Start `count` servers at once (each on the next port) and keep or leave them running."""
    servers = replica_servers(settings, count)
    with console.status(f"starting {count} vLLM servers…"), ThreadPoolExecutor(count) as pool:
        results = list(pool.map(lambda s: s.ensure(), servers))
    for state, started in results:
        verb = "serving" if started else "already serving"
        console.print(f"{verb} [bold]{state.model}[/] at [bold]{state.base_url}[/] (pid {state.pid})")
    console.print("requests are spread over them by fewest in flight")
    if detach:
        console.print("running in the background; `scriptorium serve --stop` stops them all")
        return
    console.print("press Ctrl-C to stop them")
    try:
        while all(s.running() is not None for s in servers):
            time.sleep(2)
    except KeyboardInterrupt:
        console.print("stopping…")
    for managed in reversed(servers):
        if read_state(managed.state_dir) is not None:
            managed.stop()
    console.print("stopped")


def _describe(state: ServerState, config_dir: Path) -> Table:
    uptime = datetime.now(UTC) - state.started_at
    table = Table(show_header=False, box=None)
    table.add_row("base URL", state.base_url)
    table.add_row("model", state.model)
    table.add_row("model path", state.model_path)
    if state.adapters:
        table.add_row("LoRA adapters", ", ".join(state.adapters))
    table.add_row("pid", str(state.pid))
    table.add_row("up for", str(uptime).split(".")[0])
    table.add_row("log", state.log_path)
    table.add_row("API key", f"(not shown) {config_dir / 'api_key'}, or SCRIPTORIUM_API_KEY")
    return table
