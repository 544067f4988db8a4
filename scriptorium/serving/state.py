"""The state file of a managed server: how `serve --status/--stop` and every client find it again."""

from __future__ import annotations

import contextlib
import os
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_serializer

__all__ = ["ServerState", "read_state", "remove_state", "state_path", "write_state"]


class ServerState(BaseModel):
    """What a running managed server is. Written with mode 0600: it holds the API key."""

    model_config = ConfigDict(extra="forbid")

    pid: int
    """Leader of the server's process group."""
    host: str
    port: int
    api_key: SecretStr
    model: str
    """The served model name clients request."""
    model_path: str
    adapters: list[str] = []
    """LoRA adapters served over the model, requested by these names."""
    log_path: str
    started_at: datetime

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @field_serializer("api_key", when_used="json")
    def _dump_key(self, value: SecretStr) -> str:
        return value.get_secret_value()


def state_path(state_dir: Path) -> Path:
    return state_dir / "server.json"


def write_state(state_dir: Path, state: ServerState) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_path(state_dir)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(state.model_dump_json(indent=2))
    tmp.replace(path)


def read_state(state_dir: Path) -> ServerState | None:
    """The recorded server, or None when there is none (a corrupt file counts as none)."""
    try:
        return ServerState.model_validate_json(state_path(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValidationError):
        return None


def remove_state(state_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(state_dir).unlink()
