"""The client against the real vLLM server with the bundled model."""

from __future__ import annotations

import asyncio
import re
from enum import StrEnum

import httpx
import pytest
from pydantic import BaseModel, Field, SecretStr

from scriptorium.config import ClientSettings
from scriptorium.errors import AuthenticationFailed, ContextLengthExceeded, EndpointUnreachable
from scriptorium.serving import Endpoint, ModelClient, ServerState, TextDelta

from ..conftest import free_port
from .proxy import FaultyProxy

pytestmark = pytest.mark.server

ASK = [{"role": "user", "content": "Name one primary colour."}]


async def test_chat_round_trip(client: ModelClient) -> None:
    result = await client.chat(ASK, caller="t", max_tokens=24, temperature=0)
    assert result.text.strip()
    assert result.prompt_tokens > 0 and 0 < result.completion_tokens <= 24
    assert result.finish_reason in ("stop", "length")
    assert result.model == client.endpoint.model


class Section(BaseModel):
    heading: str = Field(min_length=1, max_length=80)
    key: str = Field(pattern=r"^S[0-9]$")


class Stance(StrEnum):
    approve = "approve"
    revise = "revise"


class Plan(BaseModel):
    title: str = Field(max_length=120)
    stance: Stance
    sections: list[Section] = Field(min_length=2, max_length=3)


async def test_structured_output_validates_against_the_model(client: ModelClient) -> None:
    messages = [{"role": "user", "content": "Plan a short paper on retrieval-augmented generation."}]
    out = await client.structured(messages, Plan, caller="planner", max_tokens=300, temperature=0)
    assert isinstance(out.value, Plan)
    assert 2 <= len(out.value.sections) <= 3
    assert all(re.fullmatch(r"S[0-9]", section.key) for section in out.value.sections)
    assert out.result.completion_tokens > 0


async def test_streaming_yields_deltas_then_usage(client: ModelClient) -> None:
    deltas: list[str] = []
    final = None
    async for item in client.stream(ASK, caller="streamer", max_tokens=24, temperature=0):
        if isinstance(item, TextDelta):
            deltas.append(item.text)
        else:
            final = item
    assert final is not None
    assert len(deltas) >= 2
    assert "".join(deltas) == final.text
    assert final.completion_tokens > 0 and final.prompt_tokens > 0
    assert client.ledger.callers["streamer"].completion_tokens == final.completion_tokens


async def test_retries_an_injected_503_then_gets_the_real_answer(managed_server: ServerState) -> None:
    proxy = FaultyProxy(managed_server.base_url.removesuffix("/v1"), fail_first=2, fail_status=503)
    with proxy.serving() as url:
        endpoint = Endpoint(url, managed_server.api_key, managed_server.model)
        settings = ClientSettings(max_retries=3, backoff_base=0.05)
        async with ModelClient(endpoint, settings) as client:
            result = await client.chat(ASK, caller="flaky", max_tokens=8)
    assert proxy.requests == 3
    assert result.completion_tokens > 0
    assert client.ledger.callers["flaky"].requests == 1
    assert client.ledger.callers["flaky"].failures == 0


async def test_concurrency_limit_is_respected_at_the_server(managed_server: ServerState) -> None:
    proxy = FaultyProxy(managed_server.base_url.removesuffix("/v1"))
    with proxy.serving() as url:
        endpoint = Endpoint(url, managed_server.api_key, managed_server.model)
        async with ModelClient(endpoint, ClientSettings(max_concurrency=3)) as client:
            results = await asyncio.gather(*(client.chat(ASK, max_tokens=16) for _ in range(9)))
    assert len(results) == 9
    assert proxy.requests == 9
    assert proxy.peak_in_flight == 3


def _server_token_counters(state: ServerState) -> tuple[float, float]:
    text = httpx.get(
        state.base_url.removesuffix("/v1") + "/metrics",
        headers={"Authorization": f"Bearer {state.api_key.get_secret_value()}"},
        timeout=10,
    ).text

    def total(name: str) -> float:
        return sum(float(m) for m in re.findall(rf"^vllm:{name}_total\{{[^}}]*\}} ([0-9.e+]+)$", text, re.M))

    return total("prompt_tokens"), total("generation_tokens")


async def test_accounting_matches_the_servers_own_usage(
    client: ModelClient, managed_server: ServerState
) -> None:
    prompt_before, generated_before = _server_token_counters(managed_server)
    prompts = [[{"role": "user", "content": f"Say the number {n} in words."}] for n in range(5)]
    results = await asyncio.gather(
        *(client.chat(p, caller=f"agent{n % 2}", max_tokens=12) for n, p in enumerate(prompts))
    )
    prompt_after, generated_after = _server_token_counters(managed_server)
    ledger = client.ledger
    assert ledger.total().requests == 5
    assert ledger.total().prompt_tokens == sum(r.prompt_tokens for r in results)
    assert ledger.total().completion_tokens == sum(r.completion_tokens for r in results)
    assert ledger.callers["agent0"].requests == 3 and ledger.callers["agent1"].requests == 2
    assert ledger.total().prompt_tokens == prompt_after - prompt_before
    assert ledger.total().completion_tokens == generated_after - generated_before


async def test_prompt_over_the_context_is_mapped_and_not_retried(managed_server: ServerState) -> None:
    proxy = FaultyProxy(managed_server.base_url.removesuffix("/v1"))
    with proxy.serving() as url:
        endpoint = Endpoint(url, managed_server.api_key, managed_server.model)
        async with ModelClient(endpoint) as client:
            with pytest.raises(ContextLengthExceeded) as caught:
                await client.chat([{"role": "user", "content": "word " * 6000}], max_tokens=4)
    assert caught.value.limit == 4096  # the session server's --max-model-len
    assert caught.value.prompt_tokens is not None and caught.value.prompt_tokens > 4096
    assert proxy.requests == 1


async def test_wrong_key_is_an_authentication_error_naming_the_url(managed_server: ServerState) -> None:
    endpoint = Endpoint(managed_server.base_url, SecretStr("wrong"), managed_server.model)
    async with ModelClient(endpoint) as client:
        with pytest.raises(AuthenticationFailed) as caught:
            await client.chat(ASK, max_tokens=4)
    assert managed_server.base_url in str(caught.value)
    assert "wrong" not in str(caught.value)


async def test_unreachable_endpoint_names_the_url_and_how_to_start_one() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    settings = ClientSettings(max_retries=1, backoff_base=0.01)
    async with ModelClient(Endpoint(url, SecretStr("k"), "m"), settings) as client:
        with pytest.raises(EndpointUnreachable) as caught:
            await client.chat(ASK)
    assert url in str(caught.value)
    assert "scriptorium serve" in str(caught.value)
