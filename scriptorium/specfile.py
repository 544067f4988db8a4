"""YAML spec files read safely, with every value's position kept, so errors name file, line and field.

PyYAML's safe loader loses positions and silently keeps the last of two duplicate keys. Here the
document is composed into nodes first; values are built from the nodes (scalars by the safe
constructor), each path's line and column is recorded, and a duplicate key is an error. Pydantic
validation errors are then mapped back to the position of the value they are about.
"""

from __future__ import annotations

import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from .errors import ScriptoriumError, plain_message

__all__ = ["Located", "SpecError", "SpecErrors", "load_yaml", "parse_yaml", "read_text", "spec_errors"]

Path_ = tuple[str | int, ...]
_PLAIN_COLLECTIONS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


class SpecError(ScriptoriumError):
    """One problem in a spec file, at a place in it."""

    exit_code = 2

    def __init__(
        self,
        file: Path | str,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        where = str(file) + (f":{line}" if line is not None else "") + (f":{column}" if column else "")
        about = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {about}{message}", hint=hint)
        self.file = str(file)
        self.line = line
        self.column = column
        self.field = field


class SpecErrors(ScriptoriumError):
    """Several problems, all reported at once (so a user fixes them in one pass)."""

    exit_code = 2

    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


@dataclass
class Located:
    """A YAML document's data and the (line, column) of every value, both 1-based."""

    file: Path
    data: Any
    positions: dict[Path_, tuple[int, int]] = field(default_factory=dict)

    def position(self, path: Path_) -> tuple[int | None, int | None]:
        """The position of `path`, or of its nearest recorded ancestor."""
        for cut in range(len(path), -1, -1):
            found = self.positions.get(tuple(path[:cut]))
            if found is not None:
                return found
        return None, None


def load_yaml(path: Path) -> Located:
    return parse_yaml(read_text(path), path)


def read_text(path: Path) -> str:
    """A spec or task file's text; one that is not UTF-8 is refused with the line of the first
    byte that is not (a guessed encoding could change the meaning of a value in silence)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise SpecError(
            path,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x})",
            line=line,
            column=column,
            hint="save the file as UTF-8",
        ) from exc


def parse_yaml(text: str, source: Path | str) -> Located:
    """`text` as data with the position of every value; `source` names it in errors."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        located = Located(Path(source), None)
        if node is not None:  # the safe constructor refuses e.g. a !!python tag
            located.data = _build(node, (), located, yaml.SafeLoader(""))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise SpecError(
            source, f"invalid YAML: {exc.problem or exc.context}", line=line, column=column
        ) from exc
    except yaml.YAMLError as exc:
        raise SpecError(source, f"invalid YAML: {exc}") from exc
    return located


def _build(node: yaml.Node, at: Path_, located: Located, loader: yaml.SafeLoader) -> Any:
    located.positions[at] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_COLLECTIONS:
        raise SpecError(
            located.file,
            f"invalid YAML: the tag {node.tag} is not allowed (plain mappings and lists only)",
            line=node.start_mark.line + 1,
            column=node.start_mark.column + 1,
        )
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if isinstance(key, list | dict):
                raise SpecError(
                    located.file, "a mapping key must be a plain value", line=key_node.start_mark.line + 1
                )
            if key in out:
                raise SpecError(
                    located.file,
                    f"duplicate key '{key}' (the first one is at line {located.positions[(*at, key)][0]})",
                    line=key_node.start_mark.line + 1,
                    column=key_node.start_mark.column + 1,
                    field=_dotted((*at, key)),
                )
            located.positions[(*at, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = _build(value_node, (*at, key), located, loader)
            # The key's own position is the most useful place to point at for its value.
            located.positions[(*at, key)] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*at, index), located, loader) for index, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def spec_errors(
    exc: ValidationError, located: Located, model: type[BaseModel], prefix: Path_ = ()
) -> list[SpecError]:
    """Each pydantic error as a `SpecError` at the position of the value it is about.

    `prefix` is where the validated object sits in the document (e.g. the agent's key in a mapping).
    """
    errors = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"])
        line, column = located.position((*prefix, *loc))
        hint = None
        message = plain_message(error)
        if error["type"] == "extra_forbidden":
            known = _fields_at(model, loc[:-1])
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            message = f"unknown field '{loc[-1]}'"
            hint = f"did you mean '{close[0]}'?" if close else "known fields: " + ", ".join(known)
        elif error["type"] == "missing":
            message = "is required but missing"
        errors.append(
            SpecError(located.file, message, line=line, column=column, field=_dotted(loc), hint=hint)
        )
    return errors


def _dotted(loc: Path_) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _fields_at(model: type[BaseModel], loc: Path_) -> list[str]:
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            info = current.model_fields.get(part)
            if info is None:
                return []
            current = info.annotation
        elif get_origin(current) in (list, dict, tuple) or get_origin(current) is typing.Sequence:
            current = get_args(current)[-1]
        else:
            return []
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """The model inside `X | None` / `Optional[X]`."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if models:
            return models[0]
    return annotation
