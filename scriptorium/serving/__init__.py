"""Serving: the bundled model, the managed vLLM server, and the one client all model calls use."""

from .client import ChatMessage, ChatResult, Endpoint, ModelClient, Structured, TextDelta
from .endpoint import resolve_endpoint
from .server import ManagedServer
from .state import ServerState
from .usage import CallerUsage, UsageLedger

__all__ = [
    "CallerUsage",
    "ChatMessage",
    "ChatResult",
    "Endpoint",
    "ManagedServer",
    "ModelClient",
    "ServerState",
    "Structured",
    "TextDelta",
    "UsageLedger",
    "resolve_endpoint",
]
