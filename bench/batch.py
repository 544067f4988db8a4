"""Batch throughput: paper tasks through the workflow runner vs a bare AsyncOpenAI loop, one run.

    .venv/bin/python bench/batch.py [--tasks 16] [--concurrency 16] [--sections 3]

1. `run_batch` of N paper tasks (distinct topics) on the sample corpus at the given concurrency;
   completion tokens / wall time is the workflow's tokens/s.
2. The very request bodies the workflow sent (messages, JSON schemas, sampling settings), replayed
   by a bare `openai.AsyncOpenAI` loop at the same concurrency.
Each side sends its own fresh vLLM `cache_salt`, so each starts with a cold prefix cache: the replay
would otherwise find every prompt of the workflow run already cached and skip most of its prefill
(it did: 0.64 before the salt, and the server's prompt throughput showed why).
Target (issue #6): workflow >= 0.9 x bare. Prints a table and writes bench/results/batch.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
from rich.console import Console
from rich.table import Table

from scriptorium.config import load_settings
from scriptorium.project import Project
from scriptorium.workflows import LIBRARY_DIR
from scriptorium.workflows.batch import BatchTask

CORPUS = Path(__file__).parents[1] / "examples" / "corpus"
RESULTS = Path(__file__).parent / "results" / "batch.json"
TOPICS = [
    "retrieval-augmented generation",
    "LoRA fine-tuning",
    "serving models with vLLM",
    "text embeddings",
    "multi-agent systems",
    "quantization of language models",
    "structured output",
    "evaluating generated text",
    "attention efficiency",
    "the transformer architecture",
    "LLM agents and tools",
    "knowledge distillation",
    "vector search with HNSW",
    "prefix caching",
    "preference optimization",
    "small language models",
]


class SaltedTransport(httpx.AsyncHTTPTransport):
    """Adds one `cache_salt` to every chat completion: this side's prefix cache starts cold."""

    def __init__(self) -> None:
        super().__init__()
        self.salt = uuid.uuid4().hex

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            body = json.loads(request.content)
            body["cache_salt"] = self.salt
            headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
            request = httpx.Request(request.method, request.url, headers=headers, json=body)
        return await super().handle_async_request(request)


async def main(tasks: int, concurrency: int, sections: int) -> dict[str, float]:
    settings = load_settings()
    work = Path(tempfile.mkdtemp(prefix="scriptorium-batch-bench-"))
    batch = [
        BatchTask(f"t{i:02d}", {"topic": TOPICS[i % len(TOPICS)], "sections": sections}, None)
        for i in range(tasks)
    ]
    sent: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        body = json.loads(request.content) if request.url.path.endswith("/chat/completions") else None
        if body is not None and "tools" not in body:  # the endpoint probe's tool-call test is not work
            sent.append(body)

    http = httpx.AsyncClient(timeout=300, transport=SaltedTransport(), event_hooks={"request": [record]})
    project = Project(settings.model_copy(update={"project_dir": work}), http_client=http)
    endpoint = project.endpoint()
    project.ingest([CORPUS])
    started = time.perf_counter()
    outcomes = await project.batch(LIBRARY_DIR / "paper.yaml", batch, work / "batch", concurrency=concurrency)
    workflow_s = time.perf_counter() - started
    workflow_tokens = project.ledger.total().completion_tokens
    await http.aclose()
    failed = [o.id for o in outcomes if o.status != "succeeded"]

    # The very requests the workflow sent (schemas, sampling settings and all), replayed.
    bare = openai.AsyncOpenAI(
        base_url=endpoint.base_url,
        api_key=endpoint.api_key.get_secret_value(),
        max_retries=0,
        http_client=httpx.AsyncClient(timeout=300, transport=SaltedTransport()),
    )
    queue = list(sent)
    generated = 0
    known = {"model", "messages", "max_tokens", "temperature", "response_format", "stream", "stream_options"}

    async def worker() -> None:
        nonlocal generated
        while queue:
            body = queue.pop()
            reply: Any = await bare.chat.completions.create(
                **{k: v for k, v in body.items() if k in known},
                extra_body={k: v for k, v in body.items() if k not in known},
            )
            if body.get("stream"):  # streamed like the workflow's (its trace shows tokens as they come)
                async for chunk in reply:
                    if chunk.usage is not None:
                        generated += chunk.usage.completion_tokens
            elif reply.usage is not None:
                generated += reply.usage.completion_tokens

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    bare_s = time.perf_counter() - started
    await bare.close()
    return {
        "tasks": tasks,
        "failed_tasks": len(failed),
        "requests": len(sent),
        "workflow_tokens": workflow_tokens,
        "workflow_s": workflow_s,
        "workflow_tokens_per_s": workflow_tokens / workflow_s,
        "bare_tokens": generated,
        "bare_s": bare_s,
        "bare_tokens_per_s": generated / bare_s,
        "ratio": (workflow_tokens / workflow_s) / (generated / bare_s),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sections", type=int, default=3)
    args = parser.parse_args()
    row = asyncio.run(main(args.tasks, args.concurrency, args.sections))
    table = Table(title=f"{args.tasks} paper tasks at concurrency {args.concurrency}")
    for column in ("requests", "workflow tok/s", "bare tok/s", "ratio", ">= 0.9", "failed tasks"):
        table.add_column(column, justify="right")
    table.add_row(
        str(row["requests"]),
        f"{row['workflow_tokens_per_s']:.1f}",
        f"{row['bare_tokens_per_s']:.1f}",
        f"{row['ratio']:.3f}",
        "yes" if row["ratio"] >= 0.9 else "NO",
        str(row["failed_tasks"]),
    )
    Console().print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": platform.platform(), **row}, indent=2))
    print(f"wrote {RESULTS}")
