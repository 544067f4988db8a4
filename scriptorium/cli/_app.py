"""The root command: global options, logging, and the one place errors become exit codes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text
from typer.core import TyperGroup

from ..errors import ScriptoriumError
from . import (
    agents,
    batch,
    chat,
    config_cmd,
    crewai_cmd,
    eval_cmd,
    finetune_cmd,
    ingest,
    review_cmd,
    run,
    serve,
    trace_cmd,
    tui_cmd,
    workflows_cmd,
)

err_console = Console(stderr=True)


class _Group(TyperGroup):
    """Renders a `ScriptoriumError` as its message and hint, no traceback; exits with the error's
    `exit_code` (1 the work failed, 2 bad input, 3 the model server, 4 the memory store)."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ScriptoriumError as exc:
            err_console.print(Text.assemble(("error: ", "bold red"), str(exc)), soft_wrap=True)
            raise typer.Exit(exc.exit_code) from exc


app = typer.Typer(
    name="scriptorium",
    cls=_Group,
    help="Multi-agent workflows on a locally served model.",
    no_args_is_help=True,
    add_completion=False,
    # Locals may hold the API key: never print them in a traceback.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Settings file (default: nearest scriptorium.toml).", exists=True),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log what happens.")] = False,
) -> None:
    ctx.obj = {"config": config}
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err_console, show_path=False)],
        force=True,
    )


serve.register(app)
chat.register(app)
config_cmd.register(app)
ingest.register(app)
agents.register(app)
run.register(app)
review_cmd.register(app)
batch.register(app)
workflows_cmd.register(app)
eval_cmd.register(app)
tui_cmd.register(app)
finetune_cmd.register(app)
crewai_cmd.register(app)
trace_cmd.register(app)


def main() -> None:
    app()
