"""The terminal UI: live agent traces, replays and batches (`scriptorium tui`, `run --tui`)."""

from .app import BatchView, RunView, ScriptoriumTUI
from .sources import FollowSource, LiveSource, ReplaySource
from .state import RunState
from .tail import TraceTail

__all__ = [
    "BatchView",
    "FollowSource",
    "LiveSource",
    "ReplaySource",
    "RunState",
    "RunView",
    "ScriptoriumTUI",
    "TraceTail",
]
