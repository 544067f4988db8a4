"""`checkpoint.sqlite`: every finished step's output, committed before its dependants start.

A step is identified by its path (`draft[2].r1.write`). Resuming reads the finished ones back and
runs nothing that is recorded. The run's spec hash is stored, so resuming a run whose workflow or
agents changed is refused unless forced. Schema changes are ordered migrations recorded in a table.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

__all__ = ["Checkpoint", "StepRow"]


class StepRow(BaseModel):
    """One finished step as the checkpoint holds it."""

    output: Any
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_s: float = 0.0


def _m001_initial(db: sqlite3.Connection) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        "CREATE TABLE steps (path TEXT PRIMARY KEY, output TEXT NOT NULL, prompt_tokens INTEGER NOT NULL,"
        " completion_tokens INTEGER NOT NULL, duration_s REAL NOT NULL, finished_at REAL NOT NULL)"
    )


_MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_initial]


class Checkpoint:
    """One run's checkpoint database. Writes are small and committed one by one (WAL mode)."""

    def __init__(self, path: Path, on_record: Callable[[str, dict[str, Any]], None] | None = None) -> None:
        """`on_record(path, record)` hears of every step recorded (a remote worker relays them)."""
        self.path = path
        self._on_record = on_record
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a finished step survives a power cut, not just a kill
        self._migrate()

    def _migrate(self) -> None:
        self._db.execute("CREATE TABLE IF NOT EXISTS migrations (number INTEGER PRIMARY KEY, name TEXT)")
        done = {row[0] for row in self._db.execute("SELECT number FROM migrations")}
        for number, migration in enumerate(_MIGRATIONS, start=1):
            if number in done:
                continue
            with self._lock:
                self._db.execute("BEGIN")
                migration(self._db)
                self._db.execute("INSERT INTO migrations VALUES (?, ?)", (number, migration.__name__))
                self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def finished(self) -> dict[str, StepRow]:
        """Every recorded step, by path."""
        rows = self._db.execute(
            "SELECT path, output, prompt_tokens, completion_tokens, duration_s FROM steps"
        ).fetchall()
        return {
            path: StepRow(
                output=json.loads(output),
                prompt_tokens=prompt,
                completion_tokens=completion,
                duration_s=duration,
            )
            for path, output, prompt, completion, duration in rows
        }

    def record(
        self, path: str, output: Any, prompt_tokens: int, completion_tokens: int, duration_s: float
    ) -> None:
        payload = json.dumps(output)
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO steps VALUES (?, ?, ?, ?, ?, ?)",
                (path, payload, prompt_tokens, completion_tokens, duration_s, time.time()),
            )
        if self._on_record is not None:
            self._on_record(
                path,
                {
                    "output": output,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "duration_s": duration_s,
                },
            )

    def meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta").fetchall()}

    def restore(self, meta: dict[str, str], steps: dict[str, Any]) -> None:
        """Load what `meta()` and `finished()` gave (as `StepRow`s or their JSON) from another copy
        of this checkpoint."""
        for key, value in meta.items():
            self.set_meta(key, value)
        for path, step in steps.items():
            row = StepRow.model_validate(step)
            self.record(path, row.output, row.prompt_tokens, row.completion_tokens, row.duration_s)
