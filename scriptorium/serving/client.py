"""The one OpenAI-compatible client every model call goes through.

It adds what vLLM leaves to us: a cap on requests in flight (vLLM queues without bound and never
answers 429 on overload), retries with jittered exponential backoff on connection errors, 429 and 5xx
(never on other 4xx), typed errors that name the URL, JSON-schema structured outputs validated into
pydantic models, streaming with usage, and per-caller token and latency accounting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import httpx
import jsonschema
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import BaseModel, SecretStr, ValidationError

from ..config import ClientSettings
from ..errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    EndpointError,
    EndpointUnreachable,
    RequestRejected,
    ServerOverloaded,
    StructuredOutputError,
)
from ..events import ModelFailed, ModelRequest, ModelResponse, TokenDelta, active_bus
from ..events.models import TRACE_TEXT_LIMIT
from .replicas import Replica, ReplicaPool
from .usage import UsageLedger

if TYPE_CHECKING:
    from .probe import CapabilityProfile

__all__ = [
    "ChatMessage",
    "ChatResult",
    "Endpoint",
    "ModelClient",
    "ServedModel",
    "Structured",
    "TextDelta",
    "ToolCallRequest",
]

log = logging.getLogger(__name__)

ChatMessage = Mapping[str, Any]
OutputT = TypeVar("OutputT", bound=BaseModel)
ValueT = TypeVar("ValueT")

_DELTA_EVERY_S = 0.1
_CONTEXT_LIMIT = re.compile(r"maximum context length is (\d+) tokens")
_PROMPT_TOKENS = re.compile(r"(\d+) input tokens")


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


class ModelClient:
    """Async client for one endpoint. Use as `async with ModelClient(...) as client:`."""

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

    async def structured(
        self,
        messages: Sequence[ChatMessage],
        output: type[OutputT],
        *,
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        repair: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Structured[OutputT]:
        """Ask for JSON matching `output`'s schema (guided decoding) and validate it.

        A reply that still fails validation (typically cut off by `max_tokens`) gets one repair
        request that shows the model its error; a second failure raises `StructuredOutputError`
        carrying the raw text.
        """
        value, result = await self._validated(
            messages,
            json_schema_format(output),
            output.__name__,
            lambda text: output.model_validate_json(text),
            caller=caller,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            repair=repair,
            extra_body=extra_body,
        )
        return Structured(value, result)

    async def samples(
        self,
        messages: Sequence[ChatMessage],
        output: type[OutputT],
        n: int,
        *,
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> tuple[list[OutputT], ChatResult]:
        """`n` answers matching `output` from one request (the prompt is read once); the ones that
        validate, in order. None validating raises `StructuredOutputError` with the first."""
        response_format = json_schema_format(output)
        max_tokens = _room_for_answer(response_format, max_tokens, caller)
        result = await self.chat(
            messages,
            caller=caller,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            response_format=response_format,
            extra_body={**(extra_body or {}), "n": n},
        )
        values = []
        for text in (result.text, *result.alternatives):
            try:
                values.append(output.model_validate_json(text))
            except (ValidationError, ValueError):
                continue
        if not values:
            raise StructuredOutputError(
                f"none of the {n} replies validates as {output.__name__}", raw=result.text
            )
        return values, result

    async def structured_json(
        self,
        messages: Sequence[ChatMessage],
        schema: Mapping[str, Any],
        *,
        name: str = "output",
        caller: str = "default",
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        repair: bool = True,
        extra_body: Mapping[str, Any] | None = None,
    ) -> tuple[Any, ChatResult]:
        """Like `structured`, for a plain JSON schema: returns the parsed, schema-valid value."""
        validator = jsonschema.Draft202012Validator(dict(schema))

        def parse(text: str) -> Any:
            value = json.loads(text)
            validator.validate(value)
            return value

        response_format = {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": strict_schema(dict(schema))},
        }
        return await self._validated(
            messages,
            response_format,
            name,
            parse,
            caller=caller,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            repair=repair,
            extra_body=extra_body,
        )

    async def _validated(
        self,
        messages: Sequence[ChatMessage],
        response_format: Mapping[str, Any],
        name: str,
        parse: Callable[[str], ValueT],
        *,
        caller: str,
        model: str | None,
        temperature: float | None,
        max_tokens: int | None,
        repair: bool,
        extra_body: Mapping[str, Any] | None = None,
    ) -> tuple[ValueT, ChatResult]:
        max_tokens = _room_for_answer(response_format, max_tokens, caller)
        conversation = list(messages)
        for round_ in range(2 if repair else 1):
            result = await self._complete(
                conversation,
                caller=caller,
                model=model,
                temperature=temperature,
                max_tokens=max_tokens,
                response_format=response_format,
                extra_body=extra_body,
            )
            try:
                return parse(result.text), result
            except (ValidationError, ValueError, jsonschema.ValidationError) as exc:
                problem = _problem(exc)
                log.warning("%s: reply does not validate as %s (round %d): %s", caller, name, round_, problem)
                if result.finish_reason == "length" and max_tokens is not None:
                    # Cut off, not wrong: showing the model its runaway text only invites more of it.
                    # Ask again, with room for a longer answer.
                    max_tokens *= 2
                    continue
                conversation += [
                    {"role": "assistant", "content": result.text},
                    {
                        "role": "user",
                        "content": f"That reply is not valid JSON for the schema ({problem}). "
                        "Reply with the complete JSON object only.",
                    },
                ]
        raise StructuredOutputError(
            f"the model's reply does not validate as {name}: {problem}",
            raw=result.text,
            hint=f"raise max_tokens if the reply was cut off (finish_reason was {result.finish_reason!r})",
        )

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
        final: ChatResult | None = None
        async for item in self.stream(messages, **options):
            if isinstance(item, ChatResult):
                final = item
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
        finally:
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
        cap = min(self.settings.backoff_max, self.settings.backoff_base * 2**attempt)
        retry_after = _retry_after(failure)
        if retry_after is not None:
            return min(self.settings.backoff_max, retry_after)
        return random.uniform(cap / 2, cap)  # "equal jitter": never hammer, never stall

    def _failed(self, replica: Replica, exc: openai.APIError) -> None:
        if isinstance(exc, openai.APIConnectionError):  # timeouts included
            self._pool.failed(replica)

    def _translate(self, exc: openai.APIError, url: str | None = None) -> EndpointError:
        url = url or self.endpoint.base_url
        others = [u for u in self.endpoint.urls if u != url]
        also = f" (nor its replicas {', '.join(others)} in time)" if others else ""
        if isinstance(exc, openai.APITimeoutError):
            return EndpointUnreachable(f"{url} did not answer in time{also}", url=url)
        if isinstance(exc, openai.APIConnectionError):
            also = f"; replicas {', '.join(others)} were tried too" if others else ""
            return EndpointUnreachable(f"cannot connect to {url}{also}", url=url)
        status = getattr(exc, "status_code", None)
        detail = _detail(exc)
        if status in (401, 403):
            return AuthenticationFailed(f"{url} refused the API key ({status})", url=url, status=status)
        if status == 429 or (status is not None and status >= 500):
            return ServerOverloaded(f"{url} answered {status}: {detail}", url=url, status=status)
        if status == 400 and (limit := _CONTEXT_LIMIT.search(detail)):
            prompt = _PROMPT_TOKENS.search(detail)
            return ContextLengthExceeded(
                f"the prompt does not fit the model's context of {limit.group(1)} tokens at {url}"
                + (f" (it has {prompt.group(1)} tokens)" if prompt else ""),
                url=url,
                limit=int(limit.group(1)),
                prompt_tokens=int(prompt.group(1)) if prompt else None,
            )
        if status == 404:
            return RequestRejected(
                f"{url} answered 404: {detail}",
                url=url,
                status=status,
                hint="check SCRIPTORIUM_MODEL against `GET /v1/models` of that server",
            )
        return RequestRejected(f"{url} answered {status}: {detail}", url=url, status=status)


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


def _room_for_answer(response_format: Mapping[str, Any], max_tokens: int | None, caller: str) -> int | None:
    """`max_tokens` raised to the longest answer the format's schema admits, so guided JSON is
    never cut off."""
    schema = response_format.get("json_schema", {}).get("schema")
    bound = schema_max_chars(schema) if isinstance(schema, Mapping) else None
    if bound is not None and max_tokens is not None and max_tokens < bound:
        name = response_format.get("json_schema", {}).get("name", "the answer")
        log.debug(
            "%s: max_tokens %d raised to %d, the longest answer %s admits", caller, max_tokens, bound, name
        )
        return bound
    return max_tokens


def json_schema_format(output: type[BaseModel]) -> dict[str, Any]:
    """The `response_format` asking vLLM to guide decoding to `output`'s JSON schema."""
    return {
        "type": "json_schema",
        "json_schema": {
            "name": output.__name__,
            "schema": plain_strings(strict_schema(output.model_json_schema())),
            "strict": True,
        },
    }


# No control characters, backslashes or double quotes: nothing in a string needs a JSON escape.
_PLAIN = '^[^\\x00-\\x1f\\x7f\\\\"]*$'


def plain_strings(schema: Any) -> Any:
    """Strings limited to text that needs no JSON escape.

    A degenerate small model can fill a string with `\\u007f` escapes: six characters a token, so the
    reply overruns any max_tokens the schema's lengths suggest (seen with the reviewer). Our output
    models carry prose and keys, which never need those characters."""
    if isinstance(schema, dict):
        out = {key: plain_strings(value) for key, value in schema.items()}
        if out.get("type") == "string" and not {"pattern", "enum", "const", "format"} & set(out):
            out["pattern"] = _PLAIN
        return out
    if isinstance(schema, list):
        return [plain_strings(item) for item in schema]
    return schema


def schema_max_chars(schema: Mapping[str, Any]) -> int | None:
    """The longest compact JSON text `schema` admits, or None when it is unbounded.

    With guided decoding a token is at least one character, so this also bounds the tokens a
    reply can need: asking for fewer would cut valid JSON short (a degenerate small model does
    write one character a token)."""
    defs = schema.get("$defs", {})

    def size(node: Any, depth: int = 0) -> int | None:
        if not isinstance(node, dict) or depth > 20:
            return None
        if "$ref" in node:
            return size(defs.get(str(node["$ref"]).removeprefix("#/$defs/"), {}), depth + 1)
        if "const" in node:
            return len(json.dumps(node["const"]))
        if "enum" in node:
            return max(len(json.dumps(v)) for v in node["enum"])
        for key in ("anyOf", "oneOf"):
            if key in node:
                sizes = [size(option, depth + 1) for option in node[key]]
                return None if any(s is None for s in sizes) else max(s for s in sizes if s is not None)
        kind = node.get("type")
        if kind == "string":
            return int(node["maxLength"]) + 2 if "maxLength" in node else None
        if kind in ("integer", "number"):
            return 24
        if kind == "boolean":
            return 5
        if kind == "null":
            return 4
        if kind == "array":
            item = size(node.get("items", {}), depth + 1)
            if item is None or "maxItems" not in node:
                return None
            return 2 + int(node["maxItems"]) * (item + 1)
        if kind == "object":
            total = 2
            for name, value in node.get("properties", {}).items():
                inner = size(value, depth + 1)
                if inner is None:
                    return None
                total += len(json.dumps(name)) + 2 + inner
            return total
        return None

    return size(schema)


def strict_schema(schema: Any) -> Any:
    """`schema` with `additionalProperties: false` on every object that does not say otherwise.

    JSON Schema allows unknown properties by default, and a guided decoder follows the letter of it:
    a small model then invents keys until max_tokens (seen: "description_type_type_type…"). Pydantic
    models that ignore extra fields leave the keyword out, so it is added here, everywhere."""
    if isinstance(schema, dict):
        out = {key: strict_schema(value) for key, value in schema.items()}
        if out.get("type") == "object" and "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict_schema(item) for item in schema]
    return schema


def _detail(exc: openai.APIError) -> str:
    body = exc.body
    if isinstance(body, dict):
        message = body.get("message") or body.get("error", {})
        if isinstance(message, dict):
            message = message.get("message")
        if isinstance(message, str):
            return message
    return exc.message


def _retry_after(exc: openai.APIError) -> float | None:
    response = getattr(exc, "response", None)
    if response is None:
        return None
    value = response.headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _problem(exc: Exception) -> str:
    """The first validation problem, short enough to show the model."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "top level"
        return f"{where}: {first['msg']}"
    if isinstance(exc, jsonschema.ValidationError):
        where = "/".join(str(part) for part in exc.absolute_path) or "top level"
        return f"{where}: {exc.message[:200]}"
    return str(exc)[:200]
