"""Files of a run written atomically: a kill mid-write leaves the old file or the new one, never half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import ScriptoriumError, plain_message

__all__ = ["read_versioned_json", "write_atomic", "write_json_atomic"]

M = TypeVar("M", bound=BaseModel)


def write_atomic(path: Path, text: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8") if isinstance(text, str) else text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def read_versioned_json(
    path: Path,
    model: type[M],
    current: int,
    error: type[ScriptoriumError],
    *,
    upgrade: dict[str, Any] | None = None,
) -> M:
    """A JSON file with a `format` number, as `model`: an older file (no number: format 0) is read
    with `upgrade` filled in where it lacks a field; a newer one, a broken one, or one whose fields do
    not fit is refused with the file, the field and both formats."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot be read ({exc})") from exc
    except ValueError as exc:
        raise error(f"{path}: not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise error(f"{path}: not a JSON object")
    found = data.setdefault("format", 0)
    if not isinstance(found, int) or found > current:
        raise error(
            f"{path} is in format {found}, written by a newer Scriptorium; this one reads up to {current}",
            hint="upgrade scriptorium to read it",
        )
    for key, value in (upgrade or {}).items():
        data.setdefault(key, value)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise error(f"{path}: field '{field}': {plain_message(first)}") from exc
