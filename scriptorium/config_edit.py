"""Set one key of `scriptorium.toml` and keep the rest of the file as the person wrote it.

The standard library reads TOML but does not write it, and rewriting the whole file would lose its
comments and order; so only the one line changes (or is added under its table), and the result is
read back and checked before it replaces the file.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from .errors import ConfigError
from .fileio import write_atomic

__all__ = ["set_table_key"]

_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]\s*(?:#.*)?$")
_ANY_HEADER = re.compile(r"^\s*\[")


def set_table_key(path: Path, table: str, key: str, value: str | None) -> None:
    """`[table] key = "value"` in the TOML file at `path` (created when missing); `value` None
    removes the key. A file this cannot edit line by line (the key set inline or dotted elsewhere)
    is refused, naming what to change by hand; the file is never left half-written."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    try:
        before = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix it, then run the command again") from exc
    lines = text.splitlines()
    line = f"{key} = {json.dumps(value)}" if value is not None else None
    start = next(
        (n for n, row in enumerate(lines) if (m := _HEADER.match(row)) and m.group(1) == table), None
    )
    if start is None:
        if table in before:
            raise ConfigError(
                f"{path}: [{table}] is written inline or with dotted keys, which this cannot edit",
                hint=f"set {table}.{key} = {json.dumps(value)} there by hand",
            )
        if line is not None:
            lines += ([""] if lines and lines[-1].strip() else []) + [f"[{table}]", line]
    else:
        end = next((n for n in range(start + 1, len(lines)) if _ANY_HEADER.match(lines[n])), len(lines))
        own = re.compile(rf"^\s*{re.escape(key)}\s*=")
        at = next((n for n in range(start + 1, end) if own.match(lines[n])), None)
        if at is not None and line is not None:
            lines[at] = line
        elif at is not None:
            del lines[at]
        elif line is not None:
            lines.insert(start + 1, line)
    edited = "\n".join(lines) + "\n"
    try:
        after = tomllib.loads(edited).get(table, {})
    except tomllib.TOMLDecodeError as exc:  # e.g. the key was a multi-line value
        raise ConfigError(
            f"{path}: could not set {table}.{key} line by line ({exc})",
            hint=f"set {table}.{key} = {json.dumps(value)} there by hand",
        ) from exc
    if after.get(key) != value:
        raise ConfigError(
            f"{path}: {table}.{key} is set in a way this cannot edit",
            hint=f"set {table}.{key} = {json.dumps(value)} there by hand",
        )
    write_atomic(path, edited)
