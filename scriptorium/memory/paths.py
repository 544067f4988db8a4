"""The files under the paths given to ingest, in order, and every path that cannot be read, with why.

A missing path, a symlink loop or a folder that cannot be listed is one problem among the files to
ingest, not a reason to ingest none of them: it is reported and the walk goes on.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Found", "PathProblem", "describe_os_error", "expand_paths", "walk"]


@dataclass(frozen=True)
class Found:
    path: Path
    location: str
    """Its path within the folder it was found under; a file named alone: its name."""


@dataclass(frozen=True)
class PathProblem:
    path: Path
    reason: str


def walk(paths: Iterable[Path]) -> Iterator[Found | PathProblem]:
    """Files named, and the files under folders named (hidden ones left out), each once, in order;
    a path that cannot be read comes as a `PathProblem` in its place."""
    seen: set[Path] = set()
    for path in paths:
        for item in _walk_one(path):
            if item.path not in seen:
                seen.add(item.path)
                yield item


def expand_paths(paths: Iterable[Path]) -> list[Path]:
    """The files `walk` finds (the problems left out)."""
    return [item.path for item in walk(paths) if isinstance(item, Found)]


def describe_os_error(path: Path, exc: OSError) -> str:
    """Why `path` cannot be read, in words (a symlink loop named as one)."""
    if exc.errno == errno.ELOOP:
        return "a symlink loop: following its links leads back to them (fix or remove the link)"
    if exc.errno == errno.ENOENT:
        if path.is_symlink():
            return f"a broken symlink: its target {os.readlink(path)} does not exist"
        return "does not exist"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied: this user cannot read it"
    return f"cannot be read: {exc.strerror or exc}"


def _walk_one(path: Path) -> Iterator[Found | PathProblem]:
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        yield PathProblem(path, describe_os_error(path, exc))
        return
    if stat.S_ISREG(mode):
        yield Found(path, path.name)
        return
    if not stat.S_ISDIR(mode):
        # A named pipe would block the read forever; a device is no document.
        yield PathProblem(path, "not a regular file or folder")
        return
    problems: list[OSError] = []
    files: list[Path] = []
    # os.walk does not follow symlinked folders (nor did `rglob`): a link back up would loop.
    for folder, dirs, names in os.walk(path, onerror=problems.append):
        dirs.sort()
        files.extend(Path(folder, name) for name in names if not name.startswith("."))
    for error in problems:
        unreadable = Path(error.filename) if error.filename else path
        yield PathProblem(unreadable, describe_os_error(unreadable, error))
    for file in sorted(files):
        try:
            mode = file.stat().st_mode
        except OSError as exc:  # a broken link or a loop among the folder's files
            yield PathProblem(file, describe_os_error(file, exc))
            continue
        if stat.S_ISREG(mode):  # sockets and pipes in a folder are left out, as they were
            yield Found(file, file.relative_to(path).as_posix())
