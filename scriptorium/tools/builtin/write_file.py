"""`write_file`: write text into the run folder, and nowhere else.

Refused: absolute paths, any `..`, and paths whose resolved location (symlinks followed) leaves the
run folder. The final open uses O_NOFOLLOW so a symlink planted at the target is not followed.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, Field

from ...errors import PathRefused, ToolUnavailable
from ..base import ToolContext, tool

__all__ = ["confined_path", "write_file"]


class WriteFileArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(min_length=1, max_length=255, description="Relative path inside the run folder.")
    content: str = Field(max_length=500_000)


class WrittenFile(BaseModel):
    path: str
    bytes: int


def confined_path(run_dir: Path, relative: str) -> Path:
    """`relative` resolved inside `run_dir`, or `PathRefused`."""
    pure = PurePosixPath(relative.replace("\\", "/"))
    if pure.is_absolute() or relative.startswith("~"):
        raise PathRefused(f"'{relative}' is absolute; give a path relative to the run folder")
    if ".." in pure.parts:
        raise PathRefused(f"'{relative}' climbs out with '..'; give a path inside the run folder")
    root = run_dir.resolve()
    target = root.joinpath(*pure.parts)
    resolved = target.resolve()  # follows symlinks on the way
    if resolved != root and root not in resolved.parents:
        raise PathRefused(f"'{relative}' leads outside the run folder")
    return target


@tool("write_file", timeout_s=30)
async def write_file(args: WriteFileArgs, ctx: ToolContext) -> WrittenFile:
    """Write a text file inside this run's folder (relative paths only)."""
    if ctx.run_dir is None:
        raise ToolUnavailable("this run has no folder to write into")
    target = confined_path(ctx.run_dir, args.path)
    data = args.content.encode("utf-8")
    await asyncio.to_thread(_write, target, data)
    return WrittenFile(path=str(target.relative_to(ctx.run_dir.resolve())), bytes=len(data))


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        raise PathRefused(f"cannot write '{target.name}': {exc.strerror}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
