"""The terminal UI: live agent traces, replays and batches (`scriptorium tui`, `run --tui`)."""

from .app import BatchView, RunView, ScriptoriumTUI
from .gate import GateScreen, tui_reviewer
from .sources import FollowSource, LiveSource, ReplaySource
from .state import RunState
from .tail import TraceTail

__all__ = [
    "BatchView",
    "FollowSource",
    "GateScreen",
    "LiveSource",
    "ReplaySource",
    "RunState",
    "RunView",
    "ScriptoriumTUI",
    "TraceTail",
    "tui_reviewer",
]
