"""The one OpenAI-compatible client every model call goes through.

It adds what vLLM leaves to us: a cap on requests in flight (vLLM queues without bound and never
answers 429 on overload), retries with jittered exponential backoff on connection errors, 429 and 5xx
(never on other 4xx), typed errors that name the URL, JSON-schema structured outputs validated into
pydantic models, streaming with usage, and per-caller token and latency accounting.

Its parts, each its own module: the types that go in and out (`messages`), replicas and the cap on
requests in flight (`replicas`), failures as typed errors and the backoff (`failures`), structured
output (`schemas`, `structured`), and the usage ledger (`usage`). This module is the transport that
ties them: one request, retried, on a replica, streamed into the trace when one listens.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import httpx
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel

from ..config import ClientSettings
from ..errors import AnswerCutOff, EndpointError, EndpointUnreachable, ServerOverloaded
from ..events import ModelFailed, ModelRequest, ModelResponse, TokenDelta, active_bus
from ..events.models import TRACE_TEXT_LIMIT
from .failures import backoff, translate
from .messages import ChatMessage, ChatResult, Endpoint, ServedModel, Structured, TextDelta, ToolCallRequest
from .replicas import Replica, ReplicaPool
from .schemas import (
    json_schema_format,
    plain_strings,
    schema_max_chars,
    strict_schema,
)
from .structured import StructuredCalls
from .usage import UsageLedger

if TYPE_CHECKING:
    from .probe import CapabilityProfile

__all__ = [  # the types and schema helpers are re-exported: this is where callers look for them
    "ChatMessage",
    "ChatResult",
    "Endpoint",
    "ModelClient",
    "ServedModel",
    "Structured",
    "TextDelta",
    "ToolCallRequest",
    "json_schema_format",
    "plain_strings",
    "schema_max_chars",
    "strict_schema",
]

log = logging.getLogger(__name__)

OutputT = TypeVar("OutputT", bound=BaseModel)
ValueT = TypeVar("ValueT")

_DELTA_EVERY_S = 0.1


class ModelClient(StructuredCalls):
    """Async client for one endpoint. Use as `async with ModelClient(...) as client:`. Its
    structured-output calls (`structured`, `samples`, `structured_json`) are `StructuredCalls`'."""

    def __init__(
        self,
        endpoint: Endpoint,
        settings: ClientSettings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.endpoint = endpoint
        self.settings = settings or ClientSettings()
        self.ledger = UsageLedger()
        self.declared_profile: CapabilityProfile | None = None
        """What the endpoint can do when known without asking (a model double); else `probe` asks."""
        self._sleep = sleep
        self._closed = False
        timeout = httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout)
        replicas = len(endpoint.urls)
        self._http = http_client or httpx.AsyncClient(
            timeout=timeout,
            limits=httpx.Limits(
                max_connections=self.settings.max_concurrency * 2 * replicas,
                max_keepalive_connections=self.settings.max_concurrency * replicas,
            ),
        )
        self._owns_http = http_client is None
        self._pool = ReplicaPool(
            [Replica(url, self._api(url, timeout)) for url in endpoint.urls], self.settings.max_concurrency
        )
        self._openai = self._pool.replicas[0].api

    def _api(self, url: str, timeout: httpx.Timeout) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=url,
            api_key=self.endpoint.api_key.get_secret_value(),
            timeout=timeout,
            max_retries=0,  # retries are ours: we know which failures are worth repeating
            http_client=self._http,
        )

    @property
    def in_flight(self) -> int:
        """Requests holding a concurrency slot right now (on every replica)."""
        return self._pool.in_flight

    @property
    def replicas(self) -> ReplicaPool:
        """The servers requests are spread over (one unless the endpoint lists several)."""
        return self._pool

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._owns_http:
            await self._http.aclose()

    async def models(self) -> list[ServedModel]:
        """What the endpoint serves (base model and LoRA adapters), with context lengths where given."""
        try:
            page = await self._openai.models.list()
        except openai.APIError as exc:
            raise self._translate(exc) from exc
        out = []
        for entry in page.data:
            length = (entry.model_extra or {}).get("max_model_len")
            out.append(ServedModel(entry.id, length if isinstance(length, int) else None))
        return out

    async def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
        tools: Sequence[Mapping[str, Any]] | None = None,
        tool_choice: str | Mapping[str, Any] | None = None,
    ) -> ChatResult:
        """Send one chat request and wait for the whole reply."""
        request = self._request(messages, model, temperature, max_tokens, response_format, extra_body)
        if tools:
            request["tools"] = [dict(t) for t in tools]
            if tool_choice is not None:
                request["tool_choice"] = tool_choice
        request_id = _trace_request(request)
        started = time.perf_counter()
        attempt = 0
        while True:
            async with self._slot() as replica:
                try:
                    completion = cast(ChatCompletion, await replica.api.chat.completions.create(**request))
                except openai.APIError as exc:
                    failure: openai.APIError = exc
                    self._failed(replica, exc)
                else:
                    self._pool.succeeded(replica)
                    return self._finish(caller, completion, started, request_id)
            await self._before_retry(failure, attempt, caller, request_id, replica.url)
            attempt += 1

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        *,
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        response_format: Mapping[str, Any] | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[TextDelta | ChatResult]:
        """Yield `TextDelta`s as tokens arrive, then one `ChatResult` with the usage.

        Failures before the first chunk are retried like `chat`; a failure mid-stream is raised,
        since the caller has already seen part of the answer.
        """
        request = self._request(messages, model, temperature, max_tokens, response_format, extra_body)
        request["stream"] = True
        request["stream_options"] = {"include_usage": True}
        request_id = _trace_request(request)
        started = time.perf_counter()
        attempt = 0
        while True:
            async with self._slot() as replica:
                try:
                    chunks = cast(
                        openai.AsyncStream[ChatCompletionChunk],
                        await replica.api.chat.completions.create(**request),
                    )
                except openai.APIError as exc:
                    failure: openai.APIError = exc
                    self._failed(replica, exc)
                else:
                    self._pool.succeeded(replica)
                    async for item in self._consume(
                        chunks, caller, started, request, request_id, replica.url
                    ):
                        yield item
                    return
            await self._before_retry(failure, attempt, caller, request_id, replica.url)
            attempt += 1

    # -- internals -------------------------------------------------------------------------------

    def _request(
        self,
        messages: Sequence[ChatMessage],
        model: str | None,
        temperature: float | None,
        max_tokens: int | None,
        response_format: Mapping[str, Any] | None,
        extra_body: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        if self._closed:
            raise RuntimeError("this ModelClient is closed")
        request: dict[str, Any] = {"model": model or self.endpoint.model, "messages": list(messages)}
        if temperature is not None:
            request["temperature"] = temperature
        if max_tokens is not None:
            request["max_tokens"] = max_tokens
        if response_format is not None:
            request["response_format"] = dict(response_format)
        if extra_body:
            request["extra_body"] = dict(extra_body)
        return request

    def _slot(self) -> _Slot:
        return _Slot(self._pool)

    def _finish(
        self, caller: str, completion: ChatCompletion, started: float, request_id: str | None
    ) -> ChatResult:
        usage = completion.usage
        choice = completion.choices[0]
        calls = tuple(
            ToolCallRequest(call.id, call.function.name, call.function.arguments)
            for call in choice.message.tool_calls or ()
            if call.type == "function"
        )
        result = ChatResult(
            text=choice.message.content or "",
            alternatives=tuple(c.message.content or "" for c in completion.choices[1:]),
            finish_reason=choice.finish_reason,
            model=completion.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_s=time.perf_counter() - started,
            tool_calls=calls,
        )
        self._account(caller, result, request_id)
        return result

    async def _complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        caller: str,
        model: str | None,
        temperature: float | None,
        max_tokens: int | None,
        response_format: Mapping[str, Any] | None,
        extra_body: Mapping[str, Any] | None,
    ) -> ChatResult:
        """One whole reply; streamed when a trace is listening, so its tokens show as they come."""
        options: dict[str, Any] = {
            "caller": caller,
            "model": model,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "response_format": response_format,
            "extra_body": extra_body,
        }
        if active_bus() is None:
            return await self.chat(messages, **options)
        attempt = 0
        while True:
            final: ChatResult | None = None
            try:
                async for item in self.stream(messages, **options):
                    if isinstance(item, ChatResult):
                        final = item
            except AnswerCutOff:
                # Only the trace saw the partial answer: ask for the whole one again (the dead
                # server's connections fail, so another replica takes it when there is one).
                if attempt >= self.settings.max_retries:
                    raise
                attempt += 1
                log.warning(
                    "%s: an answer was cut off; asked again (%d/%d)",
                    caller,
                    attempt,
                    self.settings.max_retries,
                )
                continue
            assert final is not None  # stream() always ends with the result
            return final

    async def _consume(
        self,
        chunks: openai.AsyncStream[ChatCompletionChunk],
        caller: str,
        started: float,
        request: dict[str, Any],
        request_id: str | None,
        url: str,
    ) -> AsyncIterator[TextDelta | ChatResult]:
        model = str(request["model"])
        bus = active_bus() if request_id else None
        parts: list[str] = []
        unsent = ""
        """Text not yet in a TokenDelta: deltas are sent at most every _DELTA_EVERY_S, so a trace
        gets a line per burst of tokens, not per token."""
        sent_at = time.perf_counter()
        finish_reason: str | None = None
        prompt_tokens = completion_tokens = 0
        try:
            async for chunk in chunks:
                model = chunk.model or model
                if chunk.usage is not None:
                    prompt_tokens = chunk.usage.prompt_tokens
                    completion_tokens = chunk.usage.completion_tokens
                for choice in chunk.choices:
                    if choice.finish_reason:
                        finish_reason = choice.finish_reason
                    if choice.delta.content:
                        parts.append(choice.delta.content)
                        unsent += choice.delta.content
                        if bus is not None and request_id is not None:
                            now = time.perf_counter()
                            if now - sent_at >= _DELTA_EVERY_S:
                                bus.emit(TokenDelta(request_id=request_id, text=unsent))
                                unsent, sent_at = "", now
                        yield TextDelta(choice.delta.content)
            if unsent and bus is not None and request_id is not None:
                bus.emit(TokenDelta(request_id=request_id, text=unsent))
        except openai.APIError as exc:
            raise self._given_up(caller, request_id, self._translate(exc, url)) from exc
        except httpx.TransportError as exc:  # the server went away mid-answer: openai does not wrap it
            lost = AnswerCutOff(f"{url} closed the connection in the middle of an answer", url=url)
            raise self._given_up(caller, request_id, lost) from exc
        finally:
            with contextlib.suppress(httpx.TransportError):  # closing a dead stream fails the same way
                await chunks.close()
        result = ChatResult(
            text="".join(parts),
            finish_reason=finish_reason,
            model=model,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            latency_s=time.perf_counter() - started,
        )
        self._account(caller, result, request_id)
        yield result

    def _account(self, caller: str, result: ChatResult, request_id: str | None) -> None:
        self.ledger.record(
            caller,
            prompt_tokens=result.prompt_tokens,
            completion_tokens=result.completion_tokens,
            latency_s=result.latency_s,
        )
        bus = active_bus() if request_id else None
        if bus is not None and request_id is not None:
            bus.emit(
                ModelResponse(
                    request_id=request_id,
                    text=result.text[:TRACE_TEXT_LIMIT],
                    finish_reason=result.finish_reason,
                    prompt_tokens=result.prompt_tokens,
                    completion_tokens=result.completion_tokens,
                    latency_s=result.latency_s,
                )
            )

    def _given_up(self, caller: str, request_id: str | None, error: EndpointError) -> EndpointError:
        """Account a request that failed for good, and say so in the trace; returns `error`."""
        self.ledger.record_failure(caller)
        bus = active_bus() if request_id else None
        if bus is not None and request_id is not None:
            bus.emit(ModelFailed(request_id=request_id, error=error.message))
        return error

    async def _before_retry(
        self, failure: openai.APIError, attempt: int, caller: str, request_id: str | None, url: str
    ) -> None:
        """Raise the translated error if `failure` is final; otherwise wait out the backoff."""
        error = self._translate(failure, url)
        retryable = isinstance(error, EndpointUnreachable | ServerOverloaded)
        if not retryable or attempt >= self.settings.max_retries:
            raise self._given_up(caller, request_id, error) from failure
        delay = self._backoff(attempt, failure)
        log.warning(
            "%s: %s; retry %d/%d in %.2fs",
            caller,
            error.message,
            attempt + 1,
            self.settings.max_retries,
            delay,
        )
        await self._sleep(delay)

    def _backoff(self, attempt: int, failure: openai.APIError) -> float:
        return backoff(attempt, failure, self.settings.backoff_base, self.settings.backoff_max)

    def _failed(self, replica: Replica, exc: openai.APIError) -> None:
        if isinstance(exc, openai.APIConnectionError):  # timeouts included
            self._pool.failed(replica)

    def _translate(self, exc: openai.APIError, url: str | None = None) -> EndpointError:
        return translate(exc, url or self.endpoint.base_url, self.endpoint.urls)


class _Slot:
    """A place on one replica; held while a request (or a whole stream) is in flight."""

    __slots__ = ("_pool", "_replica")

    def __init__(self, pool: ReplicaPool) -> None:
        self._pool = pool
        self._replica: Replica | None = None

    async def __aenter__(self) -> Replica:
        self._replica = await self._pool.acquire()
        return self._replica

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._replica is not None
        await self._pool.release(self._replica)


def _trace_request(request: Mapping[str, Any]) -> str | None:
    """Emit a ModelRequest when a bus is listening; returns the id that ties its events together."""
    bus = active_bus()
    if bus is None:
        return None
    request_id = uuid.uuid4().hex[:12]
    settings = {name: request[name] for name in ("temperature", "max_tokens", "stream") if name in request}
    if "response_format" in request:
        response_format = request["response_format"]
        settings["response_format"] = response_format.get("json_schema", {}).get(
            "name"
        ) or response_format.get("type")
    bus.emit(
        ModelRequest(
            request_id=request_id,
            model=str(request["model"]),
            messages=[
                {"role": str(m.get("role", "")), "content": str(m.get("content", ""))[:TRACE_TEXT_LIMIT]}
                for m in request["messages"]
            ],
            settings=settings,
        )
    )
    return request_id
