"""A run's inputs checked against the workflow's typed `inputs`: defaults filled, every problem listed."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from ..errors import ConfigError
from .spec import WorkflowSpec

__all__ = ["InputError", "parse_cli_value", "resolve_inputs"]


class InputError(ConfigError):
    """Inputs that do not fit the workflow (missing, unknown, or of the wrong type)."""

    def __init__(self, problems: list[str], *, where: str = "") -> None:
        prefix = f"{where}: " if where else ""
        super().__init__(prefix + "; ".join(problems))
        self.problems = problems


def resolve_inputs(spec: WorkflowSpec, given: Mapping[str, Any], *, where: str = "") -> dict[str, Any]:
    problems = []
    for name in given:
        if name not in spec.inputs:
            close = difflib.get_close_matches(name, list(spec.inputs), n=1)
            known = ", ".join(spec.inputs) or "none"
            hint = f" (did you mean '{close[0]}'?)" if close else f" (inputs: {known})"
            problems.append(f"unknown input '{name}'{hint}")
    values: dict[str, Any] = {}
    for name, declared in spec.inputs.items():
        if name in given:
            value = given[name]
        elif declared.required:
            problems.append(f"missing required input '{name}'")
            continue
        else:
            value = declared.default
        if declared.required and isinstance(value, str) and not value.strip():
            problems.append(f"input '{name}' is empty")
            continue
        try:
            jsonschema.validate(value, declared.json_schema())
        except jsonschema.ValidationError as exc:
            problems.append(f"input '{name}': {exc.message}")
            continue
        values[name] = value
    if problems:
        raise InputError(problems, where=where)
    return values


def parse_cli_value(spec: WorkflowSpec, name: str, text: str) -> Any:
    """A `--input name=value` string as the declared type (JSON for numbers, booleans, lists)."""
    declared = spec.inputs.get(name)
    if declared is None or declared.type == "string":
        return text
    if declared.type == "boolean" and text.lower() in ("true", "false", "yes", "no", "1", "0"):
        return text.lower() in ("true", "yes", "1")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # validation reports the type mismatch with the input's name
