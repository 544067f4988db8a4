"""Model doubles: a `ModelClient` whose requests are answered in-process instead of by vLLM.

The double sits under the client, as an httpx transport, so everything above it is the real
thing: structured-output validation and repair, usage accounting, trace events, streaming. Only the
server is replaced, and no socket is opened.

    model = SchemaModel()                      # any output schema -> valid generated data
    model = FunctionModel(lambda call: ...)    # your answers, computed from the request
    async with model.client() as client:
        ...                                    # or Project(folder, model=model)

`model.calls` lists every request, in order, for tests that count or inspect them.
"""

from __future__ import annotations

import inspect
import json
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr

from ..config import ClientSettings
from ..serving.client import Endpoint, ModelClient
from ..serving.probe import CapabilityProfile
from .schema_data import schema_data

__all__ = ["FunctionModel", "ModelCall", "ModelDouble", "SchemaModel"]

BASE_URL = "http://model.test/v1"
"""Never resolved: the double's transport answers every request itself."""
CONTEXT_LENGTH = 8192


@dataclass(frozen=True)
class ModelCall:
    """One chat request as the double received it."""

    messages: list[dict[str, Any]]
    model: str
    schema: dict[str, Any] | None
    """The JSON schema the reply must match (from `response_format`), or None for free text."""
    schema_name: str | None
    n: int = 1
    temperature: float | None = None
    max_tokens: int | None = None

    @property
    def prompt(self) -> str:
        """The last user message."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return _text(message.get("content"))
        return ""

    @property
    def system(self) -> str:
        return next((_text(m.get("content")) for m in self.messages if m.get("role") == "system"), "")


Answer = str | BaseModel | Mapping[str, Any] | list[Any]
"""A reply: text as is, a pydantic model or JSON-able data as its JSON."""


class ModelDouble(ABC):
    """A model answered by Python. Subclass and implement `answer`, or use the two below."""

    def __init__(self, name: str = "test-model") -> None:
        self.name = name
        self.calls: list[ModelCall] = []
        self._lock = threading.Lock()

    @abstractmethod
    def answer(self, call: ModelCall) -> Answer | Awaitable[Answer]:
        """The reply to one request (or an awaitable of it: a test can make a reply take time)."""

    def endpoint(self) -> Endpoint:
        return Endpoint(base_url=BASE_URL, api_key=SecretStr("test-key"), model=self.name)

    def client(self, settings: ClientSettings | None = None) -> ModelClient:
        """A real `ModelClient` whose requests this double answers."""
        http = httpx.AsyncClient(transport=_Transport(self))
        client = _OwningClient(self.endpoint(), settings, http_client=http)
        # A double is not probed: its probe requests would reach the test's function.
        client.declared_profile = CapabilityProfile(
            base_url=BASE_URL,
            model=self.name,
            models=(self.name,),
            context_length=CONTEXT_LENGTH,
            json_schema=True,
            tool_calls=False,
        )
        return client

    async def reply(self, call: ModelCall) -> str:
        with self._lock:  # requests come from one loop, but a test may share a double across threads
            self.calls.append(call)
        value = self.answer(call)
        if inspect.isawaitable(value):
            value = await value
        if isinstance(value, str):
            return value
        if isinstance(value, BaseModel):
            return value.model_dump_json()
        return json.dumps(value)


class SchemaModel(ModelDouble):
    """Answers any output schema with valid data made of the prompt's words; free text with a
    sentence of them. Deterministic: the n-th request with the same prompt gets the same answer."""

    def __init__(self, name: str = "test-model", *, seed: int = 0) -> None:
        super().__init__(name)
        self.seed = seed

    def answer(self, call: ModelCall) -> Answer | Awaitable[Answer]:
        words = re.findall(r"[A-Za-z][\w'-]*", call.prompt)
        seed = self.seed + len(self.calls)
        if call.schema is None:
            text = " ".join(words[:20]) or "The evidence shows a clear pattern"
            return text[0].upper() + text[1:] + "."
        data: Any = schema_data(call.schema, words=words, seed=seed)
        return json.dumps(data)


class FunctionModel(ModelDouble):
    """Answers with `function(call)`: text, a pydantic model, or JSON-able data; an `async def`
    function is awaited."""

    def __init__(
        self, function: Callable[[ModelCall], Answer | Awaitable[Answer]], name: str = "test-model"
    ) -> None:
        super().__init__(name)
        self.function = function

    def answer(self, call: ModelCall) -> Answer | Awaitable[Answer]:
        return self.function(call)


class _OwningClient(ModelClient):
    """Closes the double's httpx client with itself (the base class leaves a given one open)."""

    async def aclose(self) -> None:
        if not self._closed:
            await super().aclose()
            await self._http.aclose()


class _Transport(httpx.AsyncBaseTransport):
    def __init__(self, model: ModelDouble) -> None:
        self.model = model

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if request.method == "GET" and path.endswith("/models"):
            entry = {
                "id": self.model.name,
                "object": "model",
                "created": 0,
                "owned_by": "scriptorium.testing",
            }
            entry["max_model_len"] = CONTEXT_LENGTH
            return httpx.Response(200, json={"object": "list", "data": [entry]})
        if request.method != "POST" or not path.endswith("/chat/completions"):
            return httpx.Response(404, json={"error": {"message": f"no route {request.method} {path}"}})
        body = json.loads(await request.aread())
        call = _call(body)
        try:
            answers = [await self.model.reply(call) for _ in range(call.n)]
        except Exception as exc:  # the test's function failed: say so, as a request nobody retries
            message = f"the test model's answer raised {type(exc).__name__}: {exc}"
            return httpx.Response(400, json={"error": {"message": message, "type": "BadRequestError"}})
        usage = {
            "prompt_tokens": sum(len(_text(m.get("content")).split()) for m in call.messages),
            "completion_tokens": sum(len(a.split()) for a in answers),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.get("stream"):
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, stream=_Events(call, answers[0], usage)
            )
        choices = [
            {"index": i, "message": {"role": "assistant", "content": a}, "finish_reason": "stop"}
            for i, a in enumerate(answers)
        ]
        return httpx.Response(
            200, json={**_head(call, "chat.completion"), "choices": choices, "usage": usage}
        )


class _Events(httpx.AsyncByteStream):
    """The reply as server-sent events: its text, then the finish reason and the usage."""

    def __init__(self, call: ModelCall, text: str, usage: dict[str, int]) -> None:
        head = _head(call, "chat.completion.chunk")
        chunks = [
            {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": text}}]},
            {**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {**head, "choices": [], "usage": usage},
        ]
        self.lines = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks] + [b"data: [DONE]\n\n"]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for line in self.lines:
            yield line


def _call(body: Mapping[str, Any]) -> ModelCall:
    response_format = body.get("response_format") or {}
    spec = response_format.get("json_schema") or {}
    return ModelCall(
        messages=list(body.get("messages", [])),
        model=str(body.get("model", "")),
        schema=spec.get("schema"),
        schema_name=spec.get("name"),
        n=int(body.get("n") or 1),
        temperature=body.get("temperature"),
        max_tokens=body.get("max_tokens"),
    )


def _head(call: ModelCall, kind: str) -> dict[str, Any]:
    return {"id": "chatcmpl-test", "object": kind, "created": 0, "model": call.model}


def _text(content: Any) -> str:
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content or "")
