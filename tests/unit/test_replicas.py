"""Several model servers behind one client, over a scripted transport (two fake hosts): requests go
to the replica with fewest in flight, each replica has its own concurrency limit, a replica that
refuses connections is skipped and tried again later, and none answering is one clear error.
The same with two real vLLM servers is tests/serving/test_replicas_real.py."""

from __future__ import annotations

import asyncio
import json
import os
from collections import Counter
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from scriptorium.config import ClientSettings, load_settings
from scriptorium.errors import EndpointUnreachable
from scriptorium.serving.client import Endpoint, ModelClient
from scriptorium.serving.replicas import Replica, ReplicaPool
from scriptorium.serving.server import replica_settings, server_env

from .test_client_transport import completion

A, B = "http://a.test/v1", "http://b.test/v1"


class Hosts:
    """Answers for each host; a host in `down` refuses connections. Counts requests and peaks."""

    def __init__(self, delay: float = 0.02) -> None:
        self.down: set[str] = set()
        self.served: Counter[str] = Counter()
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.delay = delay

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host
        if host in self.down:
            raise httpx.ConnectError("connection refused", request=request)
        self.in_flight[host] += 1
        self.peak[host] = max(self.peak[host], self.in_flight[host])
        await asyncio.sleep(self.delay)
        self.in_flight[host] -= 1
        self.served[host] += 1
        return httpx.Response(200, json=completion(host))


def client(hosts: Hosts, limit: int = 4, retries: int = 3) -> ModelClient:
    async def no_sleep(_: float) -> None:
        return None

    return ModelClient(
        Endpoint(A, SecretStr("k"), "m", replicas=(B,)),
        ClientSettings(max_concurrency=limit, max_retries=retries),
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(hosts)),
        sleep=no_sleep,
    )


async def burst(model: ModelClient, n: int) -> list[str]:
    results = await asyncio.gather(*(model.chat([{"role": "user", "content": "hi"}]) for _ in range(n)))
    return [r.text for r in results]


async def test_a_burst_is_spread_over_both_and_each_keeps_its_limit() -> None:
    hosts = Hosts()
    async with client(hosts, limit=3) as model:
        answers = await burst(model, 24)
    assert Counter(answers) == {"a.test": 12, "b.test": 12}
    assert hosts.peak == {"a.test": 3, "b.test": 3}  # 6 in flight in all, never 4 on one


async def test_a_replica_that_refuses_connections_is_skipped_and_taken_back_later() -> None:
    hosts = Hosts()
    hosts.down.add("b.test")
    now = [0.0]
    async with client(hosts) as model:
        model.replicas._clock = lambda: now[0]
        assert set(await burst(model, 10)) == {"a.test"}  # every request answered, by A
        b = model.replicas.replicas[1]
        assert not b.up and b.down_until > now[0]
        hosts.down.clear()
        assert set(await burst(model, 4)) == {"a.test"}  # B not tried while its pause runs
        now[0] = b.down_until
        answers = await burst(model, 10)
    assert "b.test" in answers and b.up


async def test_every_replica_down_is_one_error_naming_them() -> None:
    hosts = Hosts()
    hosts.down.update({"a.test", "b.test"})
    now = [0.0]

    async with client(hosts, retries=2) as model:
        pool = model.replicas

        def clock() -> float:
            now[0] += 0.5  # time passes while requests wait for a replica to come due
            return now[0]

        pool._clock = clock
        with pytest.raises(EndpointUnreachable) as caught:
            await model.chat([{"role": "user", "content": "hi"}])
    message = str(caught.value)
    assert "cannot connect to" in message and "a.test" in message and "b.test" in message


async def test_the_pool_prefers_the_least_busy_replica() -> None:
    pool = ReplicaPool([Replica(A, None), Replica(B, None)], limit=8)
    first = await pool.acquire()
    second = await pool.acquire()
    third = await pool.acquire()
    assert {first.url, second.url} == {A, B} and third is first  # idle: they alternate
    assert await pool.acquire() is second  # 2 in flight on the first, 1 on the second
    await pool.release(first)
    await pool.release(first)
    assert await pool.acquire() is first  # now 0 against 2


def test_urls_come_from_base_url_and_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCRIPTORIUM_BASE_URL", f"{A}/, {B}")
    monkeypatch.setenv("SCRIPTORIUM_ENDPOINTS", json.dumps(["http://c.test/v1", B]))
    assert load_settings(None).endpoint_urls == [A, B, "http://c.test/v1"]


def test_managed_replicas_take_the_next_ports_own_state_and_one_gpu_each(tmp_path: Path) -> None:
    settings = load_settings(None, state_dir=tmp_path, server={"port": 9000})
    second = replica_settings(settings, 1, gpus=2, count=2)
    assert second.server.port == 9001 and second.state_dir == tmp_path / "replicas" / "1"
    assert second.server.gpu == 1 and replica_settings(settings, 0, gpus=2, count=2).server.gpu == 0
    assert replica_settings(settings, 1, gpus=1, count=2).server.gpu is None  # too few GPUs: none pinned
    assert server_env(second, SecretStr("k"))["CUDA_VISIBLE_DEVICES"] == "1"
    unpinned = server_env(replica_settings(settings, 1), SecretStr("k"))
    assert unpinned.get("CUDA_VISIBLE_DEVICES") == os.environ.get("CUDA_VISIBLE_DEVICES")  # left as it was
