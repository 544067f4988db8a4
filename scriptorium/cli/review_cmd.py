"""`scriptorium review RUN_DIR`: answer the review gate a parked run waits at; and the terminal
prompt a live `scriptorium run --review ...` asks at each gate."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from pydantic import BaseModel
from rich import box
from rich.syntax import Syntax
from rich.table import Table

from ..agents import OutputRegistry
from ..errors import ConfigError
from ..specfile import SpecError, read_text
from ..workflows.gates import (
    Gate,
    GateDecision,
    GateRefused,
    Reviewer,
    answer_gate,
    edit_from_yaml,
    edit_model,
    pending_gate,
    shown_as_yaml,
)
from ._common import console, open_project


def register(app: typer.Typer) -> None:
    app.command("review")(review)


def review(
    ctx: typer.Context,
    run_dir: Annotated[
        Path, typer.Argument(help="A run folder that ended 'waiting', or a batch folder.", exists=True)
    ],
    approve: Annotated[bool, typer.Option("--approve", help="Approve what the gate shows.")] = False,
    edit: Annotated[
        Path | None, typer.Option(help="Answer with this YAML file as the edited value.", exists=True)
    ] = None,
    reject: Annotated[str | None, typer.Option(help="Reject, with this note.")] = None,
) -> None:
    """Show the gate a parked run waits at (every one, for a batch) and record your answer; `run
    --resume` (or `batch --resume`) then goes on."""
    if sum([approve, edit is not None, reject is not None]) > 1:
        raise ConfigError("give at most one of --approve, --edit FILE, --reject NOTE")
    batch = (run_dir / "manifest.json").is_file()
    folders = sorted(p for p in (run_dir / "tasks").iterdir() if p.is_dir()) if batch else [run_dir]
    waiting = [(folder, gate) for folder in folders if (gate := pending_gate(folder)) is not None]
    if not waiting:
        raise GateRefused(f"{run_dir} waits at no review gate", hint="only a run that ended 'waiting' does")
    if edit is not None and len(waiting) > 1:
        raise ConfigError(f"{len(waiting)} gates wait in {run_dir}: --edit answers one; answer them in turn")
    outputs = open_project(ctx).outputs
    for folder, gate in waiting:
        model = edit_model(outputs, gate)
        if batch:
            console.print(f"[bold]task {folder.name}[/]")
        show(gate)
        if approve:
            decision = GateDecision(action="approve")
        elif reject is not None:
            decision = GateDecision(action="reject", note=reject)
        elif edit is not None:
            edited = edit_from_yaml(gate.shown, read_text(edit), model, str(edit))
            decision = GateDecision(action="edit", value=edited)
        else:
            decision = ask(gate, model)
        answer_gate(folder, decision, model, path=gate.path)
        console.print(f"[green]{decision.action}[/] recorded for {folder.name}")
    again = f"scriptorium batch --resume {run_dir}" if batch else f"scriptorium run --resume {run_dir}"
    console.print(f"go on with: {again}")


def show(gate: Gate) -> None:
    console.rule(f"review: {gate.path} (round {gate.round})")
    if gate.description:
        console.print(gate.description, highlight=False)
    if isinstance(gate.shown, dict):
        table = Table(show_header=False, box=box.SIMPLE)
        table.add_column(style="bold", no_wrap=True)
        table.add_column(overflow="fold")
        for name, value in gate.shown.items():
            table.add_row(name, "\n".join(_lines(value)))
        console.print(table)
    else:
        console.print(Syntax(shown_as_yaml(gate.shown), "yaml", word_wrap=True))


def _lines(value: Any, indent: str = "") -> list[str]:
    """A value as readable lines: lists numbered, a record's first field as its label."""
    if isinstance(value, list):
        lines = []
        for n, item in enumerate(value, 1):
            inner = _lines(item, indent + "   ")
            lines.append(f"{indent}{n}. {inner[0].strip()}" if inner else f"{indent}{n}.")
            lines += inner[1:]
        return lines or [f"{indent}(none)"]
    if isinstance(value, dict):
        items = list(value.items())
        lines = [f"{indent}{items[0][1]}"] if items and not isinstance(items[0][1], list | dict) else []
        for key, inner in items[len(lines) :]:
            if isinstance(inner, list | dict):
                lines += [f"{indent}{key}:", *_lines(inner, indent + "   ")]
            else:
                lines.append(f"{indent}{key}: {inner}")
        return lines
    return [f"{indent}{value}"]


def ask(gate: Gate, model: type[BaseModel] | None) -> GateDecision:
    """Approve, edit (in $EDITOR, reopened until the edit is valid) or reject with a note."""
    while True:
        choice = console.input("[bold]a[/]pprove, [bold]e[/]dit or [bold]r[/]eject? ").strip().lower()
        if choice in ("a", "approve"):
            return GateDecision(action="approve")
        if choice in ("r", "reject"):
            return GateDecision(action="reject", note=console.input("note for the revision: ").strip())
        if choice in ("e", "edit"):
            edited = _edit_until_valid(gate, model)
            if edited is not None:
                return GateDecision(action="edit", value=edited)


def _edit_until_valid(gate: Gate, model: type[BaseModel] | None) -> Any:
    """The edited value; None when the editor is left without saving (back to the question)."""
    text = shown_as_yaml(gate.shown)
    while True:
        changed = click.edit(text, extension=".yaml")
        if changed is None:
            return None
        try:
            return edit_from_yaml(gate.shown, changed, model, "the edit")
        except (GateRefused, SpecError) as exc:
            console.print(f"[red]error:[/] {exc.message}; the editor opens again", highlight=False)
            text = changed  # the person's words are kept, not thrown away


def terminal_reviewer(outputs: OutputRegistry) -> Reviewer:
    """Ask at each gate in this terminal while the run goes on around it."""
    lock = asyncio.Lock()  # one question at a time

    async def answer(gate: Gate) -> GateDecision:
        model = edit_model(outputs, gate)
        async with lock:
            show(gate)
            return await asyncio.to_thread(ask, gate, model)

    return answer
