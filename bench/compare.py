"""Engines compared on one server in one run: the same paper tasks five ways.

    .venv/bin/python bench/compare.py [--tasks 8] [--concurrency 16] [--sections 3] [--only 1,2,4]

1. bare: a bare `openai.AsyncOpenAI` loop replaying the very requests (2) sent, at the same
   concurrency: the ceiling.
2. autogen: `run_batch` of the paper workflow on the AutoGen engine.
3. crewai: the same batch on the CrewAI engine.
4. crewai-plain: what a CrewAI user would write: a sequential crew (planner, writer, reviewer)
   on CrewAI's own OpenAI-compatible LLM, over the topics with `kickoff_for_each`.
5. autogen-plain: what an AutoGen user would write: a `RoundRobinGroupChat` of the same three
   agents per task, the tasks one after another.
Tokens and requests are counted by the server (its /metrics, before and after each variant), so
every variant is counted the same way (CrewAI's own usage report counts a shared LLM once per
agent). Reported per variant: completion tokens/s, wall time, requests, and for the variants that call
through an instrumented client, the per-call overhead: the client's time for a call minus the HTTP
round trip (transport-level, request sent to body read) and minus waiting for a concurrency slot.
Each variant sends its own vLLM `cache_salt`, so none starts with another's prompts cached.
Targets (issue #9): (2) >= 0.9 x (1); (2) >= 8 x (4); overhead p50 <= 2 ms.
Prints a table and writes bench/results/compare.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))
from batch import CORPUS, TOPICS

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.config import load_settings
from scriptorium.memory import MemoryStore
from scriptorium.serving import Endpoint, ModelClient, resolve_endpoint
from scriptorium.tools import default_registry
from scriptorium.workflows import LIBRARY_DIR, load_workflow
from scriptorium.workflows.batch import BatchTask, run_batch

RESULTS = Path(__file__).parent / "results" / "compare.json"
ROLES = {
    "planner": ("Research planner", "Outline a short paper on {topic}: three sections, one line each."),
    "writer": ("Technical writer", "Write the paper on {topic} from the outline, one paragraph a section."),
    "reviewer": ("Reviewer", "Review the paper on {topic}: list up to three concrete fixes."),
}
MAX_TOKENS = 512  # the workflow agents' default


@dataclass
class _Call:
    http_s: float = 0.0
    queued_s: float = 0.0


_CURRENT: contextvars.ContextVar[_Call | None] = contextvars.ContextVar("bench_call", default=None)


@dataclass
class Timings:
    overheads_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | None]:
        data = sorted(self.overheads_ms)
        if not data:
            return {"overhead_p50_ms": None, "overhead_p95_ms": None}
        return {
            "overhead_p50_ms": statistics.median(data),
            "overhead_p95_ms": data[min(len(data) - 1, int(0.95 * len(data)))],
        }


class TimedTransport(httpx.AsyncHTTPTransport):
    """Adds a `cache_salt` and adds each round trip (until the body is read) to the call in progress."""

    def __init__(self, record: Callable[[dict[str, Any]], None] | None = None) -> None:
        super().__init__()
        self.salt = uuid.uuid4().hex
        self._record = record

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            body = json.loads(request.content)
            if self._record is not None and "tools" not in body:  # the probe's tool test is not work
                self._record(dict(body))
            body["cache_salt"] = self.salt
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx.Request(request.method, request.url, headers=headers, json=body)
        call = _CURRENT.get()
        started = time.perf_counter()
        response = await super().handle_async_request(request)
        if call is None:
            return response
        inner = response.stream

        class Timed(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in inner:  # type: ignore[union-attr]
                    yield chunk

            async def aclose(self) -> None:
                await inner.aclose()  # type: ignore[union-attr]
                if call is not None:
                    call.http_s += time.perf_counter() - started

        response.stream = Timed()
        return response


class TimedClient(ModelClient):
    """Our client, timing each call: its whole time, the slot wait and the HTTP round trips."""

    def __init__(self, *args: Any, timings: Timings, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timings = timings

    async def chat(self, *args: Any, **kwargs: Any) -> Any:
        call = _Call()
        token = _CURRENT.set(call)
        started = time.perf_counter()
        try:
            return await super().chat(*args, **kwargs)
        finally:
            self._done(call, started)
            _CURRENT.reset(token)

    async def stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        call = _Call()
        token = _CURRENT.set(call)
        started = time.perf_counter()
        try:
            async for item in super().stream(*args, **kwargs):
                yield item
        finally:
            self._done(call, started)
            _CURRENT.reset(token)

    def _slot(self) -> Any:
        slot = super()._slot()
        call = _CURRENT.get()

        class Timed:
            async def __aenter__(self) -> Any:
                waited = time.perf_counter()
                replica = await slot.__aenter__()
                if call is not None:
                    call.queued_s += time.perf_counter() - waited
                return replica

            async def __aexit__(self, *exc: object) -> None:
                await slot.__aexit__(*exc)

        return Timed()

    def _done(self, call: _Call, started: float) -> None:
        if call.http_s > 0:
            total = time.perf_counter() - started
            self.timings.overheads_ms.append((total - call.queued_s - call.http_s) * 1000)


async def scriptorium_batch(
    engine: str,
    endpoint: Endpoint,
    tasks: list[BatchTask],
    concurrency: int,
    work: Path,
    sent: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The paper batch on `engine`; the request bodies it sends are appended to `sent`."""
    settings = load_settings()
    tools, outputs = default_registry(), default_outputs()
    catalog = AgentCatalog.load(tools, outputs)
    loaded = load_workflow(LIBRARY_DIR / "paper.yaml", catalog=catalog, tools=tools, outputs=outputs)
    transport = TimedTransport(sent.append if sent is not None else None)
    timings = Timings()
    with MemoryStore(work / f"memory-{engine}", "bench") as memory:
        memory.ingest([CORPUS])
        http = httpx.AsyncClient(timeout=600, transport=transport)
        async with TimedClient(endpoint, settings.client, http_client=http, timings=timings) as client:
            started = time.perf_counter()
            outcomes = await run_batch(
                loaded,
                tasks,
                work / f"batch-{engine}",
                client=client,
                catalog=catalog,
                tools=tools,
                outputs=outputs,
                memory=memory,
                concurrency=concurrency,
                engine=engine,
            )
            wall = time.perf_counter() - started
        await http.aclose()
    for outcome in outcomes:
        if outcome.status != "succeeded":
            print(f"{engine} task {outcome.id} {outcome.status}: {outcome.error}", file=sys.stderr)
    return {
        "wall_s": wall,
        "failed_tasks": sum(o.status != "succeeded" for o in outcomes),
        **timings.summary(),
    }


async def bare_replay(endpoint: Endpoint, sent: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    transport = TimedTransport()
    bare = openai.AsyncOpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key.get_secret_value(),
        max_retries=0,
        http_client=httpx.AsyncClient(timeout=600, transport=transport),
    )
    queue = list(sent)
    timings = Timings()
    known = {"model", "messages", "max_tokens", "temperature", "response_format", "stream", "stream_options"}

    async def worker() -> None:
        while queue:
            body = queue.pop()
            call = _Call()
            token = _CURRENT.set(call)
            started = time.perf_counter()
            reply: Any = await bare.chat.completions.create(
                **{k: v for k, v in body.items() if k in known},
                extra_body={k: v for k, v in body.items() if k not in known},
            )
            if body.get("stream"):  # streamed like the workflow's (its trace shows tokens as they come)
                async for _chunk in reply:
                    pass
            timings.overheads_ms.append((time.perf_counter() - started - call.http_s) * 1000)
            _CURRENT.reset(token)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    await bare.close()
    return {"wall_s": wall, "failed_tasks": 0, **timings.summary()}


def crewai_plain(endpoint: Endpoint, topics: list[str]) -> dict[str, Any]:
    """A sequential crew over the topics with kickoff_for_each, on CrewAI's own LLM class."""
    import os

    for name in ("CREWAI_DISABLE_TELEMETRY", "CREWAI_DISABLE_TRACKING"):
        os.environ[name] = "true"
    os.environ["CREWAI_TRACING_ENABLED"] = "false"
    from crewai import LLM, Agent, Crew, Process, Task

    llm = LLM(
        model=f"openai/{endpoint.model}",
        base_url=endpoint.base_url,
        api_key=endpoint.api_key.get_secret_value(),
        temperature=0.3,
        max_tokens=MAX_TOKENS,
        extra_body={"cache_salt": uuid.uuid4().hex},
    )
    agents = {
        name: Agent(role=role, goal=goal, backstory=f"You are the {role.lower()}.", llm=llm, max_iter=3)
        for name, (role, goal) in ROLES.items()
    }
    tasks = [
        Task(description=goal, expected_output=f"The {role.lower()}'s answer.", agent=agents[name])
        for name, (role, goal) in ROLES.items()
    ]
    crew = Crew(agents=list(agents.values()), tasks=tasks, process=Process.sequential, tracing=False)
    started = time.perf_counter()
    outputs = crew.kickoff_for_each(inputs=[{"topic": t} for t in topics])
    wall = time.perf_counter() - started
    return {
        "wall_s": wall,
        "failed_tasks": sum(not getattr(o, "raw", "") for o in outputs),
        "overhead_p50_ms": None,
        "overhead_p95_ms": None,
    }


async def autogen_plain(endpoint: Endpoint, topics: list[str]) -> dict[str, Any]:
    """A RoundRobinGroupChat of planner, writer and reviewer per task, one task after another."""
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.teams import RoundRobinGroupChat
    from autogen_core.models import ModelFamily, ModelInfo
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    client = OpenAIChatCompletionClient(
        model=endpoint.model,
        base_url=endpoint.base_url,
        api_key=endpoint.api_key.get_secret_value(),
        model_info=ModelInfo(
            vision=False,
            function_calling=False,
            json_output=False,
            family=ModelFamily.UNKNOWN,
            structured_output=False,
            multiple_system_messages=False,
        ),
        temperature=0.3,
        max_tokens=MAX_TOKENS,
        # Passed through to each request by autogen at run time; its typed signature omits it.
        extra_body={"cache_salt": uuid.uuid4().hex},  # type: ignore[call-arg]
        max_retries=0,
    )
    failed = 0
    started = time.perf_counter()
    for topic in topics:
        team = RoundRobinGroupChat(
            [
                AssistantAgent(name, model_client=client, system_message=goal.format(topic=topic))
                for name, (_, goal) in ROLES.items()
            ],
            max_turns=len(ROLES),
        )
        result = await team.run(task=f"Write a short paper on {topic}.")
        failed += sum(m.models_usage is not None for m in result.messages) < len(ROLES)
    wall = time.perf_counter() - started
    await client.close()
    return {
        "wall_s": wall,
        "failed_tasks": failed,
        "overhead_p50_ms": None,
        "overhead_p95_ms": None,
    }


async def server_counts(endpoint: Endpoint) -> tuple[float, float]:
    """Generated tokens and finished requests so far, from vLLM's Prometheus metrics."""
    url = endpoint.base_url.removesuffix("/").removesuffix("/v1") + "/metrics"
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(url)).text
    tokens = requests = 0.0
    for line in text.splitlines():
        if line.startswith("vllm:generation_tokens_total"):
            tokens += float(line.rsplit(" ", 1)[1])
        elif line.startswith("vllm:request_success_total"):
            requests += float(line.rsplit(" ", 1)[1])
    return tokens, requests


async def counted(endpoint: Endpoint, variant: Any) -> dict[str, Any]:
    """Run one variant (an awaitable giving its row) with the server's counts around it."""
    tokens, requests = await server_counts(endpoint)
    row: dict[str, Any] = await variant
    after_tokens, after_requests = await server_counts(endpoint)
    row["completion_tokens"] = int(after_tokens - tokens)
    row["requests"] = int(after_requests - requests)
    row["tokens_per_s"] = row["completion_tokens"] / row["wall_s"]
    return row


async def main(tasks: int, concurrency: int, sections: int, only: set[int]) -> dict[str, dict[str, Any]]:
    endpoint = resolve_endpoint(load_settings())
    topics = [TOPICS[i % len(TOPICS)] for i in range(tasks)]
    batch = [BatchTask(f"t{i:02d}", {"topic": t, "sections": sections}, None) for i, t in enumerate(topics)]
    work = Path(tempfile.mkdtemp(prefix="scriptorium-compare-"))
    rows: dict[str, dict[str, Any]] = {}
    if only & {1, 2}:
        sent: list[dict[str, Any]] = []
        rows["2 autogen"] = await counted(
            endpoint, scriptorium_batch("autogen", endpoint, batch, concurrency, work, sent)
        )
    if 1 in only:
        rows["1 bare"] = await counted(endpoint, bare_replay(endpoint, sent, concurrency))
    if 3 in only:
        rows["3 crewai"] = await counted(
            endpoint, scriptorium_batch("crewai", endpoint, batch, concurrency, work)
        )
    if 4 in only:
        rows["4 crewai-plain"] = await counted(endpoint, asyncio.to_thread(crewai_plain, endpoint, topics))
    if 5 in only:
        rows["5 autogen-plain"] = await counted(endpoint, autogen_plain(endpoint, topics))
    return dict(sorted(rows.items()))


def targets(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    ours = rows.get("2 autogen")
    out: dict[str, Any] = {}
    if ours and "1 bare" in rows:
        out["autogen_vs_bare"] = ours["tokens_per_s"] / rows["1 bare"]["tokens_per_s"]
    if ours and "4 crewai-plain" in rows:
        out["autogen_vs_crewai_plain"] = ours["tokens_per_s"] / rows["4 crewai-plain"]["tokens_per_s"]
    if ours and ours["overhead_p50_ms"] is not None:
        out["overhead_p50_ms"] = ours["overhead_p50_ms"]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sections", type=int, default=3)
    parser.add_argument("--only", default="1,2,3,4,5", help="Variants to run, e.g. 1,2 (1 needs 2).")
    args = parser.parse_args()
    chosen = {int(v) for v in args.only.split(",")}
    rows = asyncio.run(main(args.tasks, args.concurrency, args.sections, chosen))
    table = Table(title=f"{args.tasks} paper tasks; Scriptorium and bare at concurrency {args.concurrency}")
    for column in ("variant", "tok/s", "wall s", "requests", "failed", "overhead p50 ms", "p95 ms"):
        table.add_column(column, justify="right")
    for name, row in rows.items():
        p50, p95 = row["overhead_p50_ms"], row["overhead_p95_ms"]
        table.add_row(
            name,
            f"{row['tokens_per_s']:.1f}",
            f"{row['wall_s']:.1f}",
            str(row["requests"]),
            str(row["failed_tasks"]),
            "-" if p50 is None else f"{p50:.2f}",
            "-" if p95 is None else f"{p95:.2f}",
        )
    console = Console()
    console.print(table)
    met = targets(rows)
    goals = {"autogen_vs_bare": 0.9, "autogen_vs_crewai_plain": 8.0}
    for name, value in met.items():
        if name == "overhead_p50_ms":
            console.print(f"overhead p50 {value:.2f} ms (target <= 2): {'met' if value <= 2 else 'NOT met'}")
        else:
            verdict = "met" if value >= goals[name] else "NOT met"
            console.print(f"{name} {value:.2f} (target >= {goals[name]}): {verdict}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": platform.platform(), "args": vars(args), "rows": rows, "targets": met}, indent=2
        )
    )
    print(f"wrote {RESULTS}")
