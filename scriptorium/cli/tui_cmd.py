"""`scriptorium tui`: watch a run live, replay a finished one, or browse a batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import ConfigError
from ..tui.app import Mode
from ._common import settings_from

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    app.command("tui")(tui)


def tui(
    ctx: typer.Context,
    run_dir: Annotated[
        Path | None,
        typer.Argument(help="A run or batch folder (default: the newest run in ./runs).", file_okay=False),
    ] = None,
    replay: Annotated[
        bool | None,
        typer.Option(
            "--replay/--follow", help="Replay from the start, or follow as written (default: by state)."
        ),
    ] = None,
    speed: Annotated[float, typer.Option(help="Replay speed, times the run's own pace.", min=0.25)] = 10.0,
) -> None:
    """Steps as a tree, each step's conversation, counters, and the paper when the run ends."""
    from ..tui import ScriptoriumTUI

    target = run_dir or newest_run(settings_from(ctx).project_dir / "runs")
    if not (target / "trace.jsonl").is_file() and not (target / "manifest.json").is_file():
        raise ConfigError(
            f"{target} is neither a run folder (no trace.jsonl) nor a batch folder (no manifest.json)"
        )
    mode: Mode = "auto" if replay is None else ("replay" if replay else "follow")
    ScriptoriumTUI(target, mode=mode, speed=speed).run()


def newest_run(runs: Path) -> Path:
    found = sorted(
        (p for p in runs.glob("*") if (p / "trace.jsonl").is_file()), key=lambda p: p.stat().st_mtime
    )
    if not found:
        raise ConfigError(f"no runs in {runs}", hint="name a run folder: scriptorium tui RUN_DIR")
    return found[-1]
