"""`scriptorium config`: the effective settings, after every source, with secrets hidden."""

from __future__ import annotations

import json

import typer
from rich.syntax import Syntax

from ._common import console, settings_from


def register(app: typer.Typer) -> None:
    app.command("config")(show_config)


def show_config(ctx: typer.Context) -> None:
    """Show the effective settings (CLI > SCRIPTORIUM_* env > scriptorium.toml > defaults)."""
    settings = settings_from(ctx)
    data = settings.model_dump(mode="json")
    data["api_key"] = "(set, hidden)" if settings.api_key else None
    console.print(Syntax(json.dumps(data, indent=2), "json", background_color="default"))
