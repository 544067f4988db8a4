"""What goes to and comes back from a model endpoint: the endpoint, results, streamed pieces."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, SecretStr

__all__ = [
    "ChatMessage",
    "ChatResult",
    "Endpoint",
    "ServedModel",
    "Structured",
    "TextDelta",
    "ToolCallRequest",
]

ChatMessage = Mapping[str, Any]
OutputT = TypeVar("OutputT", bound=BaseModel)


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. The key is a `SecretStr` so no repr or log line can show it."""

    base_url: str
    """Up to and including `/v1`."""
    api_key: SecretStr
    model: str
    """Model name sent with each request unless the call names another (e.g. a LoRA adapter)."""
    replicas: tuple[str, ...] = ()
    """More servers of the same model (each up to and including `/v1`); requests are spread over
    `base_url` and these by fewest in flight."""

    @property
    def urls(self) -> tuple[str, ...]:
        return (self.base_url, *self.replicas)


@dataclass(frozen=True)
class ToolCallRequest:
    """A native tool call the model asked for (only from endpoints whose tool calling works)."""

    id: str
    name: str
    arguments: str
    """As the model wrote it: normally a JSON object, but not guaranteed."""


@dataclass(frozen=True)
class ServedModel:
    id: str
    max_model_len: int | None


@dataclass(frozen=True)
class ChatResult:
    """One completed chat request."""

    text: str
    finish_reason: str | None
    model: str
    prompt_tokens: int
    completion_tokens: int
    latency_s: float
    tool_calls: tuple[ToolCallRequest, ...] = ()
    alternatives: tuple[str, ...] = ()
    """The other answers when several were asked for (`n`)."""


@dataclass(frozen=True)
class Structured(Generic[OutputT]):
    """A reply validated against the requested pydantic model, with the request it came from."""

    value: OutputT
    result: ChatResult


@dataclass(frozen=True)
class TextDelta:
    """A piece of streamed text."""

    text: str
