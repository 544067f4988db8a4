"""`scriptorium agents`: list, show, validate, create and try agents."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.table import Table

from ..agents import AgentCatalog, AgentSpec, default_outputs, load_agent_file
from ..agents.loader import agent_files
from ..config import Settings
from ..errors import ConfigError
from ..memory import open_store
from ..project import Project
from ..specfile import SpecError
from ..tools import ToolContext, default_registry
from ._common import ask, connect, console, project_of, settings_from

agents_app = typer.Typer(help="List, show, validate, create and try agents.", no_args_is_help=True)

TEMPLATE = """\
# A Scriptorium agent. Check it with `scriptorium agents validate`; the fields are in the README.
name: {name}
role: Analyst                      # who the agent is (CrewAI's `role`)
goal: Answer questions about {{topic}} from the project's sources.   # {{topic}} is filled from inputs
backstory: You read carefully and cite what you use.
instructions: |
  Keep answers short. Use memory_search to find passages before answering.
tools: [memory_search]             # allowlist: nothing else can be called
memory: read                       # read | write | none
# output: outline                  # a registered output model, or a JSON schema (type: object)
max_turns: 3                       # model calls with tool use before it must answer
model:
  temperature: 0.3
  max_tokens: 400
  # adapter: writer                # a LoRA adapter served by vLLM under this name
"""


def register(app: typer.Typer) -> None:
    app.add_typer(agents_app, name="agents")


def _catalog(settings: Settings) -> AgentCatalog:
    return project_of(settings).catalog


@agents_app.command("list")
def list_agents(ctx: typer.Context) -> None:
    """Every agent: the built-in library and the project's `agents/` folder."""
    catalog = _catalog(settings_from(ctx))
    table = Table("name", "role", "tools", "output", "source")
    for name in catalog.names():
        loaded = catalog.loaded(name)
        spec = loaded.spec
        source = "library" if loaded.builtin else str(loaded.file)
        output = spec.output if isinstance(spec.output, str) else ("JSON schema" if spec.output else "text")
        table.add_row(name, spec.role, ", ".join(spec.tools) or "-", output, source)
    console.print(table)


@agents_app.command("show")
def show_agent(ctx: typer.Context, name: str) -> None:
    """One agent's full spec, as YAML."""
    loaded = _catalog(settings_from(ctx)).loaded(name)
    console.print(f"[dim]# {loaded.file}[/]")
    console.print(yaml.safe_dump(loaded.spec.model_dump(mode="json"), sort_keys=False), highlight=False)


@agents_app.command("validate")
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Agent files (default: the whole catalog).")
    ] = None,
) -> None:
    """Check agent files; lists every problem and exits 1 if there is any."""
    settings = settings_from(ctx)
    tools, outputs = default_registry(), default_outputs()
    problems: list[SpecError] = []
    count = 0
    if paths:
        files = [f for p in paths for f in (agent_files(p) if p.is_dir() else [p])]
        seen: dict[str, Path] = {}
        for file in files:
            agents, errors = load_agent_file(file, tools, outputs)
            problems.extend(errors)
            for agent in agents:
                if agent.spec.name in seen:
                    problems.append(
                        SpecError(
                            file,
                            f"duplicate agent name '{agent.spec.name}' (also in {seen[agent.spec.name]})",
                            line=agent.line,
                            field="name",
                        )
                    )
                seen[agent.spec.name] = file
            count += len(agents)
    else:
        try:
            count = len(_catalog(settings).names())
        except ConfigError as exc:
            problems.extend(getattr(exc, "errors", []) or [SpecError("agents", exc.message)])
    for problem in problems:
        console.print(f"[red]✗[/] {problem}", highlight=False, soft_wrap=True)
    if problems:
        console.print(f"{len(problems)} problem(s)")
        raise typer.Exit(2)  # bad input, as every other refused file
    console.print(f"[green]✓[/] {count} agent(s) valid")


@agents_app.command("new")
def new_agent(ctx: typer.Context, name: str) -> None:
    """Write a commented template to the project's agents/NAME.yaml."""
    settings = settings_from(ctx)
    try:
        AgentSpec(name=name, role="r", goal="g")
    except ValueError as exc:
        raise ConfigError(f"'{name}' is not a valid agent name (letters, digits, - and _)") from exc
    path = settings.project_dir / "agents" / f"{name}.yaml"
    if path.exists():
        raise ConfigError(f"{path} already exists")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE.format(name=name))
    console.print(f"wrote {path}; check it with `scriptorium agents validate {path}`")


@agents_app.command("chat")
def chat_with_agent(
    ctx: typer.Context,
    name: str,
    prompt: Annotated[str | None, typer.Option("--prompt", "-p", help="One task instead of a loop.")] = None,
    topic: Annotated[str | None, typer.Option(help="Fills {topic} in the agent's fields.")] = None,
) -> None:
    """Try one agent: each line you type is a task; its answer is printed."""
    project = project_of(settings_from(ctx))
    spec = project.catalog.get(name)
    connect(project)
    asyncio.run(_chat(project, spec, prompt, {"topic": topic} if topic else {}))


async def _chat(project: Project, spec: AgentSpec, prompt: str | None, values: dict[str, str]) -> None:
    from ..agents.runtime import AgentRuntime

    settings = project.settings
    store = open_store(settings) if spec.memory != "none" else None
    try:
        async with project.client() as client:
            runtime = AgentRuntime(
                client,
                tools=project.tools,
                outputs=project.outputs,
                context=ToolContext(memory=store, run_dir=settings.project_dir / "runs" / "chat"),
            )
            while True:
                task = prompt if prompt is not None else ask(spec.name)
                if task is None:
                    return
                result = await runtime.run(spec, task, variables=values)
                shown = result.output.model_dump() if hasattr(result.output, "model_dump") else result.output
                console.print_json(json.dumps(shown)) if not isinstance(shown, str) else console.print(shown)
                console.print(
                    f"[dim]{result.model_calls} call(s), {result.tool_calls} tool call(s), "
                    f"{result.prompt_tokens}+{result.completion_tokens} tokens, {result.duration_s:.1f}s[/]"
                )
                if prompt is not None:
                    return
    finally:
        if store is not None:
            store.close()
