"""A review gate in a live run: the value as YAML in an editor; approve (with or without edits) or
reject with a note. A wrong edit shows its error and the editor keeps the person's words."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import BaseModel
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, Static, TextArea

from ..agents import OutputRegistry
from ..specfile import SpecError
from ..workflows.gates import (
    Gate,
    GateDecision,
    GateRefused,
    Reviewer,
    edit_from_yaml,
    edit_model,
    shown_as_yaml,
)

__all__ = ["GateScreen", "tui_reviewer"]


class GateScreen(ModalScreen[GateDecision]):
    """One gate: ctrl+s approves (an edited text is checked and sent as the edit), ctrl+r rejects
    with the note typed below the editor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "approve", "approve / save edit", priority=True),
        Binding("ctrl+r", "reject", "reject with note", priority=True),
    ]

    DEFAULT_CSS = """
    GateScreen { align: center middle; }
    GateScreen #gate { width: 90%; height: 90%; border: thick $accent; background: $surface; }
    GateScreen #gate-title { padding: 0 1; text-style: bold; }
    GateScreen #gate-about { padding: 0 1; color: $text-muted; }
    GateScreen #gate-editor { height: 1fr; }
    GateScreen #gate-error { padding: 0 1; color: $error; height: auto; }
    """

    def __init__(self, gate: Gate, model: type[BaseModel] | None) -> None:
        super().__init__()
        self.gate, self.model = gate, model
        self.original = shown_as_yaml(gate.shown)

    def compose(self) -> ComposeResult:
        with Vertical(id="gate"):
            yield Static(f"review: {self.gate.path} (round {self.gate.round})", id="gate-title")
            if self.gate.description:
                yield Static(self.gate.description, id="gate-about")
            yield TextArea(self.original, id="gate-editor", show_line_numbers=True)
            yield Static("", id="gate-error")
            yield Input(placeholder="a note, to reject (ctrl+r)", id="gate-note")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#gate-editor", TextArea).focus()

    def action_approve(self) -> None:
        text = self.query_one("#gate-editor", TextArea).text
        if text.strip() == self.original.strip():
            self.dismiss(GateDecision(action="approve"))
            return
        try:
            value = edit_from_yaml(self.gate.shown, text, self.model, "the edit")
        except (GateRefused, SpecError) as exc:
            self._error(f"{exc.message}; fix it and save again (the shown value is kept until then)")
            return
        self.dismiss(GateDecision(action="edit", value=value))

    def action_reject(self) -> None:
        note = self.query_one("#gate-note", Input).value.strip()
        if not note:
            self._error("write a note for the revision first (what should change)")
            self.query_one("#gate-note", Input).focus()
            return
        self.dismiss(GateDecision(action="reject", note=note))

    def _error(self, message: str) -> None:
        self.query_one("#gate-error", Static).update(message)


def tui_reviewer(app: App[Any], outputs: OutputRegistry) -> Reviewer:
    """Answer each gate of a run this app shows in a `GateScreen`, one at a time."""
    lock = asyncio.Lock()

    async def answer(gate: Gate) -> GateDecision:
        async with lock:
            decided: asyncio.Future[GateDecision] = asyncio.get_running_loop().create_future()

            def done(decision: GateDecision | None) -> None:
                if decided.done():
                    return
                if decision is None:  # the screen went without an answer: the run stops there
                    decided.cancel()
                else:
                    decided.set_result(decision)

            app.push_screen(GateScreen(gate, edit_model(outputs, gate)), done)
            return await decided

    return answer
