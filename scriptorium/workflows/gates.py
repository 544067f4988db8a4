"""Review gates: a person approves, edits or rejects what a step produced before the run goes on.

A `review` step shows a value (a template over earlier steps). The answer comes from a `Reviewer`
(the CLI's terminal prompt, the TUI, a Python function) when the run has one; without one, the run
parks: the gate is recorded as pending in the checkpoint, the run ends as `waiting`, and an answer
recorded later (`scriptorium review RUN_DIR`, or `answer_gate` from Python) lets `--resume` go on
without repeating any finished step. Every answer is kept in the checkpoint and the trace.

An edit keeps the shape of what was shown (the same fields, lists of the same length) and, when the
gate names an output model (`shape:`), validates against it: an edited outline is always a valid
outline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from ..agents import OutputContext, OutputRegistry
from ..errors import ConfigError, ScriptoriumError, plain_message
from ..specfile import Located, parse_yaml
from .checkpoint import Checkpoint

__all__ = [
    "Gate",
    "GateDecision",
    "GateParked",
    "GateRefused",
    "Reviewer",
    "answer_gate",
    "park",
    "record_answer",
    "recorded_answer",
    "check_edit",
    "edit_from_yaml",
    "shown_as_yaml",
    "edit_model",
    "pending_gate",
]

_PENDING = "gate_pending"


class GateParked(ScriptoriumError):
    """The run reached a review gate with nobody to answer it: it waits (exit 5)."""

    exit_code = 5

    def __init__(self, gate: Gate, run_dir: Path | None = None) -> None:
        where = f" {run_dir}" if run_dir else " RUN_DIR"
        super().__init__(
            f"waiting for review at gate '{gate.path}' (round {gate.round})",
            hint=f"answer it with `scriptorium review{where}`, then `scriptorium run --resume{where}`",
        )
        self.gate = gate


class GateRefused(ConfigError):
    """An answer that cannot be taken: no gate is pending, or an edit that is not valid."""


@dataclass(frozen=True)
class Gate:
    """One question to a person: `shown` is what the step produced (this round)."""

    path: str
    round: int
    shown: Any
    description: str = ""
    shape: str | None = None
    """The output model an edit must validate against (by its registry name), if any."""

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "round": self.round,
            "shown": self.shown,
            "description": self.description,
            "shape": self.shape,
        }


class GateDecision(BaseModel):
    action: Literal["approve", "edit", "reject"]
    value: Any = None
    """The edited value (for `edit`)."""
    note: str = Field(default="", max_length=2000)
    """Why (for `reject`: what the revised step should do differently)."""
    decided_at: float = Field(default_factory=time.time)


Reviewer = Callable[[Gate], Awaitable[GateDecision]]
"""Answers a gate during the run (the CLI's prompt, the TUI's editor, a test's function)."""


def shown_as_yaml(value: Any) -> str:
    """What a gate shows, as the YAML a person reads and edits (fields in their order)."""
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)


def edit_from_yaml(shown: Any, text: str, model: type[BaseModel] | None, source: str) -> Any:
    """A person's edit written as YAML, checked as `check_edit` does; invalid YAML is a `SpecError`
    and a wrong edit a `GateRefused`, both naming `source` and the line."""
    located = parse_yaml(text, source)
    return check_edit(shown, located.data, model, located)


def check_edit(shown: Any, edited: Any, model: type[BaseModel] | None, located: Located | None = None) -> Any:
    """`edited` when it keeps the shape of `shown` and validates against `model`; else a
    `GateRefused` naming the field (and its line, when `located` holds the edit's positions)."""
    _same_shape(shown, edited, (), located)
    if model is None:
        return edited
    try:
        return model.model_validate(edited).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        place = _place(tuple(first["loc"]), located)
        raise GateRefused(f"the edit is not valid at {place}: {plain_message(first)}") from exc


def _place(path: tuple[str | int, ...], located: Located | None) -> str:
    """'headings[1]' (line 3)', from a path of keys and indexes."""
    dotted = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    name = f"'{dotted}'" if dotted else "the value"
    if located is None:
        return name
    line, _ = located.position(path)
    return f"{name} ({located.file}, line {line})" if line is not None else name


def _same_shape(shown: Any, edited: Any, path: tuple[str | int, ...], located: Located | None) -> None:
    if isinstance(shown, dict):
        if not isinstance(edited, dict) or set(edited) != set(shown):
            place = _place(path, located)
            raise GateRefused(f"the edit changes the fields of {place}: keep {sorted(shown)}")
        for key, value in shown.items():
            _same_shape(value, edited[key], (*path, key), located)
    elif isinstance(shown, list):
        if not isinstance(edited, list) or len(edited) != len(shown):
            place = _place(path, located)
            raise GateRefused(f"the edit changes how many items {place} has: keep {len(shown)}")
        for n, (before, after) in enumerate(zip(shown, edited, strict=True)):
            _same_shape(before, after, (*path, n), located)
    elif isinstance(shown, str) and not isinstance(edited, str):
        raise GateRefused(f"{_place(path, located)} must stay text")


# -- the checkpoint's record of gates -----------------------------------------------------------


def _answer_key(path: str, round_: int) -> str:
    return f"gate:{path}:{round_}"


def recorded_answer(checkpoint: Checkpoint, gate: Gate) -> GateDecision | None:
    text = checkpoint.get_meta(_answer_key(gate.path, gate.round))
    return GateDecision.model_validate_json(text) if text else None


def park(checkpoint: Checkpoint, gate: Gate) -> None:
    checkpoint.set_meta(_PENDING, json.dumps(gate.to_json()))


def record_answer(checkpoint: Checkpoint, gate: Gate, decision: GateDecision) -> None:
    checkpoint.set_meta(_answer_key(gate.path, gate.round), decision.model_dump_json())
    pending = checkpoint.get_meta(_PENDING)
    if pending and json.loads(pending).get("path") == gate.path:
        checkpoint.set_meta(_PENDING, "")


def _open(run_dir: Path) -> Checkpoint:
    checkpoint_file = run_dir / "checkpoint.sqlite"
    if not checkpoint_file.is_file():
        raise GateRefused(f"{run_dir} is not a run folder (no checkpoint.sqlite)")
    return Checkpoint(checkpoint_file)


def _pending(checkpoint: Checkpoint) -> Gate | None:
    text = checkpoint.get_meta(_PENDING)
    if not text:
        return None
    data = json.loads(text)
    return Gate(data["path"], data["round"], data["shown"], data.get("description", ""), data.get("shape"))


def pending_gate(run_dir: Path) -> Gate | None:
    """The gate a parked run waits at, or None."""
    checkpoint = _open(run_dir)
    try:
        return _pending(checkpoint)
    finally:
        checkpoint.close()


def edit_model(outputs: OutputRegistry, gate: Gate) -> type[BaseModel] | None:
    """The output model an edit at `gate` must validate against, if the gate names one."""
    return outputs.resolve(gate.shape, OutputContext()) if gate.shape else None


def answer_gate(
    run_dir: Path, decision: GateDecision, model: type[BaseModel] | None = None, *, path: str | None = None
) -> Gate:
    """Record a person's answer to the gate `run_dir` waits at (an edit is checked first); the
    run then goes on with `--resume`. Refused when no gate is pending (or not the one named)."""
    checkpoint = _open(run_dir)
    try:
        gate = _pending(checkpoint)
        if gate is None:
            hint = "only a run that ended 'waiting' does"
            raise GateRefused(f"{run_dir} waits at no review gate", hint=hint)
        if path is not None and path != gate.path:
            raise GateRefused(f"{run_dir} waits at gate '{gate.path}', not '{path}'")
        if decision.action == "edit":
            decision = decision.model_copy(update={"value": check_edit(gate.shown, decision.value, model)})
        record_answer(checkpoint, gate, decision)
    finally:
        checkpoint.close()
    return gate
