"""`scriptorium chat`: talk to the served model, one prompt or a loop."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from ..project import Project
from ..serving.client import ChatMessage, ChatResult, TextDelta
from ._common import ask, connect, console, settings_from


def register(app: typer.Typer) -> None:
    app.command()(chat)


def chat(
    ctx: typer.Context,
    prompt: Annotated[str | None, typer.Argument(help="One prompt; without it, an interactive loop.")] = None,
    system: Annotated[str | None, typer.Option(help="System message.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Reply length cap.")] = 256,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 0.7,
) -> None:
    """Chat with the served model (starts the local server in the background if none is up)."""
    project = Project(settings_from(ctx))
    endpoint = connect(project)
    console.print(f"[dim]{endpoint.model} at {endpoint.base_url}[/]")
    asyncio.run(_chat(project, prompt, system, max_tokens, temperature))


async def _chat(
    project: Project,
    prompt: str | None,
    system: str | None,
    max_tokens: int,
    temperature: float,
) -> None:
    history: list[ChatMessage] = [{"role": "system", "content": system}] if system else []
    async with project.client() as client:
        while True:
            text = prompt if prompt is not None else ask("")
            if text is None:
                return
            history.append({"role": "user", "content": text})
            result: ChatResult | None = None
            async for item in client.stream(
                history, caller="chat", max_tokens=max_tokens, temperature=temperature
            ):
                if isinstance(item, TextDelta):
                    sys.stdout.write(item.text)
                    sys.stdout.flush()
                else:
                    result = item
            sys.stdout.write("\n")
            assert result is not None
            history.append({"role": "assistant", "content": result.text})
            console.print(
                f"[dim]{result.prompt_tokens} prompt + {result.completion_tokens} completion tokens, "
                f"{result.latency_s:.2f}s[/]"
            )
            if prompt is not None:
                return
