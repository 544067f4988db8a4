"""Throughput of ModelClient against a bare `openai.AsyncOpenAI` loop on the same server.

    .venv/bin/python bench/serving.py [--levels 1,4,16,32] [--max-tokens 64] [--rounds 3]

Uses the configured endpoint (the managed server, started if none is up). At each concurrency level
both sides send the same number of requests from the same number of workers, with `ignore_eos` so
every request generates exactly `--max-tokens` tokens; rounds alternate which side goes first, and
each side's best round counts. Prints a table and writes bench/results/serving.json.
Target (issue #3): ours >= 0.98 x bare at every level.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import openai
from rich.console import Console
from rich.table import Table

from scriptorium import Project
from scriptorium.serving import Endpoint

RESULTS = Path(__file__).parent / "results" / "serving.json"
SendOne = Callable[[list[dict[str, str]]], Awaitable[int]]


@dataclass
class Run:
    side: str
    concurrency: int
    requests: int
    completion_tokens: int
    wall_s: float

    @property
    def tokens_per_s(self) -> float:
        return self.completion_tokens / self.wall_s


def prompts(tag: str, count: int) -> list[list[dict[str, str]]]:
    # Distinct per run so neither side profits from the other's prefix cache.
    return [
        [{"role": "user", "content": f"[{tag}-{i}] Write a short paragraph about libraries, item {i}."}]
        for i in range(count)
    ]


async def drive(side: str, send: SendOne, concurrency: int, requests: int, tag: str) -> Run:
    queue = prompts(tag, requests)
    tokens = 0

    async def worker() -> None:
        nonlocal tokens
        while queue:
            generated = await send(queue.pop())
            tokens += generated  # after the await: `tokens += await ...` would lose updates

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Run(side, concurrency, requests, tokens, time.perf_counter() - started)


async def main(levels: list[int], max_tokens: int, rounds: int) -> list[dict[str, object]]:
    project = Project.open()
    endpoint: Endpoint = project.endpoint()
    extra = {"ignore_eos": True}
    bare = openai.AsyncOpenAI(
        base_url=endpoint.base_url, api_key=endpoint.api_key.get_secret_value(), max_retries=0
    )

    async def send_bare(messages: list[dict[str, str]]) -> int:
        completion = await bare.chat.completions.create(
            model=endpoint.model,
            messages=messages,  # type: ignore[arg-type]
            max_tokens=max_tokens,
            temperature=0.8,
            extra_body=extra,
        )
        return completion.usage.completion_tokens if completion.usage else 0

    rows: list[dict[str, object]] = []
    async with project.client() as client:

        async def send_ours(messages: list[dict[str, str]]) -> int:
            result = await client.chat(
                messages, caller="bench", max_tokens=max_tokens, temperature=0.8, extra_body=extra
            )
            return result.completion_tokens

        await drive("warmup", send_ours, 4, 8, "warm")
        for level in levels:
            requests = max(12, 3 * level)
            best: dict[str, Run] = {}
            for round_ in range(rounds):
                order = [("bare", send_bare), ("ours", send_ours)]
                if round_ % 2:
                    order.reverse()
                for side, send in order:
                    run = await drive(side, send, level, requests, f"{side}{level}r{round_}")
                    if side not in best or run.tokens_per_s > best[side].tokens_per_s:
                        best[side] = run
            ratio = best["ours"].tokens_per_s / best["bare"].tokens_per_s
            rows.append(
                {
                    "concurrency": level,
                    "requests": requests,
                    "bare": asdict(best["bare"]) | {"tokens_per_s": best["bare"].tokens_per_s},
                    "ours": asdict(best["ours"]) | {"tokens_per_s": best["ours"].tokens_per_s},
                    "ratio": ratio,
                }
            )
    await bare.close()
    return rows


def report(rows: list[dict[str, object]], max_tokens: int) -> None:
    table = Table(title=f"tokens/s, {max_tokens} tokens per request (best of rounds)")
    for column in ("concurrency", "requests", "bare openai", "scriptorium", "ratio", ">= 0.98"):
        table.add_column(column, justify="right")
    for row in rows:
        bare, ours = row["bare"], row["ours"]
        assert isinstance(bare, dict) and isinstance(ours, dict)
        ratio = float(row["ratio"])  # type: ignore[arg-type]
        table.add_row(
            str(row["concurrency"]),
            str(row["requests"]),
            f"{bare['tokens_per_s']:.1f}",
            f"{ours['tokens_per_s']:.1f}",
            f"{ratio:.3f}",
            "yes" if ratio >= 0.98 else "NO",
        )
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,4,16,32")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]
    rows = asyncio.run(main(levels, args.max_tokens, args.rounds))
    report(rows, args.max_tokens)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": platform.platform(), "max_tokens": args.max_tokens, "levels": rows}, indent=2)
    )
    print(f"wrote {RESULTS}")
