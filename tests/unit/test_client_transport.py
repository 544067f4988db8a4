"""ModelClient's own logic (retries, error mapping, validation, the concurrency cap) over an
httpx MockTransport: the server's answers are scripted, so each branch is exercised exactly."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel, Field, SecretStr

from scriptorium.config import ClientSettings
from scriptorium.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    EndpointUnreachable,
    RequestRejected,
    ServerOverloaded,
    StructuredOutputError,
)
from scriptorium.events import EventBus
from scriptorium.serving.client import (
    Endpoint,
    ModelClient,
    json_schema_format,
    schema_max_chars,
    strict_schema,
)

URL = "http://model.test/v1"


def completion(content: str, prompt_tokens: int = 5, completion_tokens: int = 3) -> dict[str, object]:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": "m",
        "choices": [
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def error(status: int, message: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "x", "code": status}})


class Recorder:
    """Scripted answers, in order; records every request and every backoff sleep."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, **settings: object) -> ModelClient:
        return ModelClient(
            Endpoint(URL, SecretStr("sk-test"), "m"),
            ClientSettings.model_validate({"max_retries": 3, **settings}),
            http_client=httpx.AsyncClient(transport=httpx.MockTransport(self.handler)),
            sleep=self.sleep,
        )


MESSAGES = [{"role": "user", "content": "hi"}]


async def test_retries_5xx_and_429_then_succeeds() -> None:
    rec = Recorder(error(503, "busy"), error(429, "slow down"), httpx.Response(200, json=completion("ok")))
    async with rec.client() as client:
        result = await client.chat(MESSAGES, caller="writer")
    assert result.text == "ok"
    assert len(rec.requests) == 3
    assert len(rec.sleeps) == 2
    assert 0 < rec.sleeps[0] <= 0.5 and 0 < rec.sleeps[1] <= 1.0  # backoff_base * 2**attempt caps
    assert client.ledger.callers["writer"].requests == 1
    assert client.ledger.callers["writer"].failures == 0


async def test_retry_after_header_is_honoured() -> None:
    busy = httpx.Response(429, headers={"retry-after": "3"}, json={"error": {"message": "later"}})
    rec = Recorder(busy, httpx.Response(200, json=completion("ok")))
    async with rec.client() as client:
        await client.chat(MESSAGES)
    assert rec.sleeps == [3.0]


async def test_gives_up_after_max_retries_with_the_url() -> None:
    rec = Recorder(*[error(500, "boom")] * 4)
    async with rec.client() as client:
        with pytest.raises(ServerOverloaded) as caught:
            await client.chat(MESSAGES, caller="planner")
    assert len(rec.requests) == 4  # one try and three retries
    assert caught.value.url == URL and URL in str(caught.value)
    assert client.ledger.callers["planner"].failures == 1


async def test_connection_errors_are_retried_then_reported_as_unreachable() -> None:
    refused = httpx.ConnectError("refused")
    rec = Recorder(refused, refused, refused, refused)
    async with rec.client() as client:
        with pytest.raises(EndpointUnreachable) as caught:
            await client.chat(MESSAGES)
    assert len(rec.requests) == 4
    assert "scriptorium serve" in str(caught.value)
    assert URL in str(caught.value)


async def test_context_overflow_is_mapped_and_never_retried() -> None:
    message = (
        "This model's maximum context length is 4096 tokens. However, your request has 5000 input "
        "tokens. Please reduce the length of the input messages."
    )
    rec = Recorder(error(400, message))
    async with rec.client() as client:
        with pytest.raises(ContextLengthExceeded) as caught:
            await client.chat(MESSAGES)
    assert len(rec.requests) == 1
    assert caught.value.limit == 4096
    assert caught.value.prompt_tokens == 5000


@pytest.mark.parametrize(
    ("status", "expected"), [(400, RequestRejected), (401, AuthenticationFailed), (404, RequestRejected)]
)
async def test_client_errors_are_not_retried(status: int, expected: type[Exception]) -> None:
    rec = Recorder(error(status, "nope"))
    async with rec.client() as client:
        with pytest.raises(expected):
            await client.chat(MESSAGES)
    assert len(rec.requests) == 1 and rec.sleeps == []


async def test_api_key_is_sent_but_never_in_reprs() -> None:
    rec = Recorder(httpx.Response(200, json=completion("ok")))
    async with rec.client() as client:
        await client.chat(MESSAGES)
        assert rec.requests[0].headers["authorization"] == "Bearer sk-test"
        assert "sk-test" not in repr(client.endpoint)


class Verdict(BaseModel):
    approve: bool
    fixes: list[str]


async def test_structured_output_gets_one_repair_round() -> None:
    good = json.dumps({"approve": False, "fixes": ["cite [a]"]})
    rec = Recorder(
        httpx.Response(200, json=completion('{"approve": fal')),
        httpx.Response(200, json=completion(good)),
    )
    async with rec.client() as client:
        out = await client.structured(MESSAGES, Verdict, caller="reviewer")
    assert out.value == Verdict(approve=False, fixes=["cite [a]"])
    first = json.loads(rec.requests[0].content)
    assert first["response_format"]["type"] == "json_schema"
    assert first["response_format"]["json_schema"]["schema"]["required"] == ["approve", "fixes"]
    repair = json.loads(rec.requests[1].content)["messages"]
    assert repair[-2] == {"role": "assistant", "content": '{"approve": fal'}
    assert "not valid JSON" in repair[-1]["content"]
    assert client.ledger.callers["reviewer"].requests == 2


async def test_structured_output_failure_carries_the_raw_text() -> None:
    rec = Recorder(*[httpx.Response(200, json=completion('{"approve": 3}'))] * 2)
    async with rec.client() as client:
        with pytest.raises(StructuredOutputError) as caught:
            await client.structured(MESSAGES, Verdict)
    assert caught.value.raw == '{"approve": 3}'


async def test_concurrency_cap_holds_under_a_burst() -> None:
    in_flight = peak = 0

    async def slow(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json=completion("ok"))

    transport: Callable[[httpx.Request], object] = slow
    client = ModelClient(
        Endpoint(URL, SecretStr("k"), "m"),
        ClientSettings(max_concurrency=3),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(transport)),  # type: ignore[arg-type]
    )
    async with client:
        await asyncio.gather(*(client.chat(MESSAGES) for _ in range(12)))
    assert peak == 3
    assert client.ledger.total().requests == 12
    assert client.in_flight == 0


def test_requested_schemas_forbid_properties_the_model_would_invent() -> None:
    class Loose(BaseModel):  # pydantic's default: extra ignored, so no additionalProperties
        name: str
        items: list[Verdict]

    schema = json_schema_format(Loose)["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert schema["$defs"]["Verdict"]["additionalProperties"] is False
    explicit = strict_schema({"type": "object", "properties": {}, "additionalProperties": True})
    assert explicit["additionalProperties"] is True  # a schema that says otherwise is kept


def test_schema_bound_counts_the_longest_compact_answer() -> None:
    assert schema_max_chars({"type": "string", "maxLength": 10}) == 12
    assert schema_max_chars({"type": "array", "items": {"enum": ["ab", "c"]}, "maxItems": 3}) == 2 + 3 * 5
    assert schema_max_chars({"type": "string"}) is None
    assert schema_max_chars({"type": "array", "items": {"type": "integer"}}) is None
    bounded = schema_max_chars(json_schema_format(Verdict)["json_schema"]["schema"])
    assert bounded is None  # fixes: list[str] without limits


async def test_max_tokens_is_raised_to_what_the_schema_may_need() -> None:
    class Short(BaseModel):
        word: str = Field(max_length=50)

    rec = Recorder(httpx.Response(200, json=completion('{"word": "hi"}')))
    async with rec.client() as client:
        await client.structured(MESSAGES, Short, max_tokens=5)
    assert json.loads(rec.requests[0].content)["max_tokens"] == len('{"word":') + 52 + 2


async def test_a_cut_off_reply_is_asked_again_with_more_room() -> None:
    cut = completion('{"approve": false, "fixes": ["aaaa')
    cut["choices"][0]["finish_reason"] = "length"  # type: ignore[index]
    good = completion(json.dumps({"approve": True, "fixes": []}))
    rec = Recorder(httpx.Response(200, json=cut), httpx.Response(200, json=good))
    async with rec.client() as client:
        out = await client.structured(MESSAGES, Verdict, max_tokens=40)
    assert out.value.approve is True
    first, second = (json.loads(r.content) for r in rec.requests)
    assert second["max_tokens"] == 2 * first["max_tokens"]
    assert second["messages"] == first["messages"]  # the runaway text is not shown back


def test_requested_strings_need_no_escapes() -> None:
    class Note(BaseModel):
        text: str = Field(max_length=20)
        kind: Literal["a", "b"]

    schema = json_schema_format(Note)["json_schema"]["schema"]
    pattern = re.compile(schema["properties"]["text"]["pattern"])
    assert pattern.match("plain prose, with 'quotes'")
    assert not any(pattern.match(bad) for bad in ('say "hi"', "back\\slash", "del\x7f", "tab\there"))
    assert "pattern" not in schema["properties"]["kind"]  # enums are already exact


class _DiesMidAnswer(httpx.AsyncByteStream):
    """An SSE body that sends one token, then the server is gone."""

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        chunk = {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Tides"}, "finish_reason": None}],
        }
        yield f"data: {json.dumps(chunk)}\n\n".encode()
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


async def test_a_server_gone_mid_stream_is_unreachable_with_the_url_and_the_fix() -> None:
    sse = httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=_DiesMidAnswer())
    rec = Recorder(sse)
    seen: list[object] = []
    async with rec.client() as client:
        with pytest.raises(EndpointUnreachable) as caught:
            async for item in client.stream(MESSAGES):
                seen.append(item)
    assert len(seen) == 1  # the token before the server went
    assert URL in str(caught.value) and "scriptorium serve" in str(caught.value)
    assert "in the middle of an answer" in str(caught.value)


class _WholeAnswer(httpx.AsyncByteStream):
    """An SSE body with the whole answer and its usage."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        base = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m"}
        delta = {"index": 0, "delta": {"content": self.text}, "finish_reason": "stop"}
        yield f"data: {json.dumps({**base, 'choices': [delta]})}\n\n".encode()
        usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
        yield f"data: {json.dumps({**base, 'choices': [], 'usage': usage})}\n\n".encode()
        yield b"data: [DONE]\n\n"


async def test_an_answer_cut_off_mid_stream_is_asked_again_when_only_the_trace_saw_it() -> None:
    """A replica killed while it streamed a structured answer (a run with a trace streams): the
    whole answer is asked again and the run goes on; the trace shows the failed request and the new one."""
    good = json.dumps({"approve": True, "fixes": []})
    sse = {"content-type": "text/event-stream"}
    rec = Recorder(
        httpx.Response(200, headers=sse, stream=_DiesMidAnswer()),
        httpx.Response(200, headers=sse, stream=_WholeAnswer(good)),
    )
    events: list[object] = []

    class Keep:
        def handle(self, event: object) -> None:
            events.append(event)

    bus = EventBus("run", [Keep()])
    with bus.active():
        async with rec.client() as client:
            out = await client.structured(MESSAGES, Verdict, caller="reviewer")
    assert out.value == Verdict(approve=True, fixes=[])
    assert len(rec.requests) == 2
    kinds = [type(e).__name__ for e in events if type(e).__name__.startswith("Model")]
    assert kinds == ["ModelRequest", "ModelFailed", "ModelRequest", "ModelResponse"]
