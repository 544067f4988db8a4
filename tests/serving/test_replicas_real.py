"""Two real vLLM servers of the bundled model behind one client: a burst is shared between them
(counted by each server's own metrics), the managed replica is found by `resolve_endpoint`, and a
burst survives one of them being stopped mid-way."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from scriptorium.config import ClientSettings, Settings
from scriptorium.serving import ManagedServer, ModelClient, ServerState, resolve_endpoint
from scriptorium.serving.server import replica_settings

from ..conftest import free_port

pytestmark = pytest.mark.server


def finished_requests(base_url: str) -> float:
    """Requests a vLLM server has finished, from its Prometheus metrics."""
    text = httpx.get(base_url.removesuffix("/v1") + "/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("vllm:request_success_total")
    )


@pytest.fixture
def second_server(managed_server: ServerState, server_settings: Settings) -> Iterator[ManagedServer]:
    """A second managed server (replica 1) beside the session's, stopped after the test."""
    settings = replica_settings(server_settings, 1)
    settings = settings.model_copy(
        update={"server": settings.server.model_copy(update={"port": free_port()})}
    )
    server = ManagedServer(settings)
    server.start()
    yield server
    if server.running() is not None:
        server.stop()


async def ask_all(client: ModelClient, count: int) -> list[str]:
    replies = await asyncio.gather(
        *(
            client.chat([{"role": "user", "content": f"Say a word about number {i}."}], max_tokens=8)
            for i in range(count)
        )
    )
    return [r.text for r in replies]


async def test_two_servers_share_a_burst_and_it_survives_one_stopping(
    managed_server: ServerState, server_settings: Settings, second_server: ManagedServer
) -> None:
    endpoint = resolve_endpoint(server_settings, start=False)
    replica = second_server.running()
    assert replica is not None
    assert endpoint.urls == (managed_server.base_url, replica.base_url)  # the managed replica is found
    before = {url: finished_requests(url) for url in endpoint.urls}
    async with ModelClient(endpoint, ClientSettings(max_concurrency=4)) as client:
        assert all(await ask_all(client, 16))
        served = {url: finished_requests(url) - before[url] for url in endpoint.urls}
        assert all(count >= 4 for count in served.values()), served  # both took a share

        burst = asyncio.ensure_future(ask_all(client, 80))
        await asyncio.sleep(1.0)
        await asyncio.to_thread(second_server.stop)  # one replica goes away mid-burst
        replies = await burst
    assert len(replies) == 80 and all(replies)
    assert not client.replicas.replicas[1].up  # marked down, to be tried again later
