"""Is the process a server state records still that server? Read from /proc, not guessed from a pid.

A pid alone misleads both ways: after `kill` of the server its engine processes can outlive it in its
process group (and a leader nobody reaps stays a zombie, in a container whose first process does
not reap), so "the group is alive" held a dead server's record forever; and a pid can be given to
another program later. The leader is the recorded server when it runs, leads its own process group
(the server is started in a new session) and started no later than the record was written.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .state import ServerState

__all__ = ["RecordedProcess", "group_alive", "recorded_process", "wait_reaped"]

RecordedProcess = Literal["running", "gone", "orphans", "reused"]
"""`running`: the recorded server's process runs. `gone`: nothing of it is left. `orphans`: its
leader is dead but processes of its group (vLLM's engine) live on. `reused`: its pid is now another
program's (so nothing of the server is left: a pid is not reused while its group has members)."""

_PROC = Path("/proc")
# The state's `started_at` is written right after the process is spawned; a leader that started
# later than this after it is another process. Generous, because clearing a live server's record
# is worse than keeping a dead one's: /proc/stat's boot time is whole seconds, and the wall clock
# may have been set since.
_START_SLACK_S = 60.0


@dataclass(frozen=True)
class _Stat:
    state: str
    """R, S, D...; Z for a zombie, X for dead."""
    group: int
    started: float
    """Seconds since the epoch."""

    @property
    def alive(self) -> bool:
        return self.state not in ("Z", "X")


def recorded_process(state: ServerState, proc: Path = _PROC) -> RecordedProcess:
    """What is left of the server `state` records (see `RecordedProcess`)."""
    pid = state.pid
    _reap_child(pid)  # our own child's zombie would look alive
    if not (proc / "self" / "stat").is_file():
        return _without_proc(pid)
    boot = _boot_time(proc)
    leader = _stat(proc, pid, boot)
    if leader is not None and leader.alive:
        if leader.group != pid or leader.started > state.started_at.timestamp() + _START_SLACK_S:
            return "reused"
        return "running"
    return "orphans" if _members_alive(proc, pid, boot) else "gone"


def group_alive(pgid: int, proc: Path = _PROC) -> bool:
    """Whether a process of group `pgid` still runs; zombies do not count, since one that nobody
    reaps (an orphan in a container whose first process does not reap) would count forever."""
    _reap_child(pgid)
    if not (proc / "self" / "stat").is_file():
        return _without_proc(pgid) != "gone"
    return _members_alive(proc, pgid, _boot_time(proc))


def wait_reaped(pgid: int, within_s: float = 2.0) -> None:
    """Give a stopped group's zombies a moment to be reaped (the leader by us, if it is our child;
    the rest by their new parent), so that nothing of the group is left to see; never waits longer,
    since a container whose first process does not reap would keep them forever."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        _reap_child(pgid)
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        time.sleep(0.05)


def _reap_child(pid: int) -> None:
    """Collect `pid`'s exit if it is our own child that ended (a zombie until then)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _members_alive(proc: Path, pgid: int, boot: float) -> bool:
    stats = (_stat(proc, int(p.name), boot) for p in proc.iterdir() if p.name.isdigit())
    return any(s is not None and s.group == pgid and s.alive for s in stats)


def _without_proc(pid: int) -> RecordedProcess:
    """Where there is no /proc (macOS): the kernel says only whether the pid and its group exist."""
    try:
        os.kill(pid, 0)
        return "running"
    except ProcessLookupError:
        pass
    except PermissionError:
        return "running"
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return "gone"
    except PermissionError:
        pass
    return "orphans"


def _stat(proc: Path, pid: int, boot: float) -> _Stat | None:
    try:
        text = (proc / str(pid) / "stat").read_text()
    except OSError:  # gone, or gone while listed
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    fields = text[text.rindex(")") + 2 :].split()
    ticks = int(fields[19])  # field 22, starttime: clock ticks after boot
    return _Stat(fields[0], int(fields[2]), boot + ticks / os.sysconf("SC_CLK_TCK"))


def _boot_time(proc: Path) -> float:
    for line in (proc / "stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0
