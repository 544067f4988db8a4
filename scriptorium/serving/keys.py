"""The managed server's API key: generated once, kept in the user config dir with mode 0600."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from pydantic import SecretStr

__all__ = ["load_or_create_api_key"]


def load_or_create_api_key(config_dir: Path) -> SecretStr:
    path = config_dir / "api_key"
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    if key:
        return SecretStr(key)
    config_dir.mkdir(parents=True, exist_ok=True)
    key = "sk-scriptorium-" + secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return SecretStr(key)
