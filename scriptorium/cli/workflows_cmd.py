"""`scriptorium workflows`: list, validate, show and describe the spec format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.tree import Tree

from ..agents import AgentCatalog, default_outputs
from ..errors import ScriptoriumError
from ..specfile import SpecErrors
from ..tools import default_registry
from ..workflows import LIBRARY_DIR, StepSpec, WorkflowSpec, find_workflow, load_workflow
from ..workflows.loader import step_dependencies
from ._common import console, settings_from

workflows_app = typer.Typer(help="List, validate and show workflows.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(workflows_app, name="workflows")


def _parts(project_dir: Path) -> dict[str, object]:
    tools, outputs = default_registry(), default_outputs()
    return {
        "catalog": AgentCatalog.load(tools, outputs, [project_dir / "agents"]),
        "tools": tools,
        "outputs": outputs,
    }


@workflows_app.command("list")
def list_workflows(ctx: typer.Context) -> None:
    """Workflows of the library and of the project's `workflows/` folder."""
    settings = settings_from(ctx)
    for folder, label in ((LIBRARY_DIR, "library"), (settings.project_dir / "workflows", "project")):
        for path in sorted(folder.glob("*.y*ml")) if folder.is_dir() else []:
            console.print(f"{path.stem:<20} [dim]{label}: {path}[/]")


@workflows_app.command("validate")
def validate(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(help="Names or paths (default: every workflow).")
    ] = None,
) -> None:
    """Check workflows (agents, tools, references, fields, cycles); exits 1 on any problem."""
    settings = settings_from(ctx)
    parts = _parts(settings.project_dir)
    targets = names or [
        str(p)
        for f in (LIBRARY_DIR, settings.project_dir / "workflows")
        if f.is_dir()
        for p in sorted(f.glob("*.y*ml"))
    ]
    failed = 0
    for target in targets:
        try:
            load_workflow(find_workflow(target, settings.project_dir), **parts)  # type: ignore[arg-type]
        except SpecErrors as exc:
            failed += len(exc.errors)
            for error in exc.errors:
                console.print(f"[red]✗[/] {error}", highlight=False, soft_wrap=True)
        except ScriptoriumError as exc:
            failed += 1
            console.print(f"[red]✗[/] {exc}", highlight=False, soft_wrap=True)
        else:
            console.print(f"[green]✓[/] {target}", highlight=False)
    if failed:
        raise typer.Exit(2)  # bad input, as every other refused file


@workflows_app.command("show")
def show(ctx: typer.Context, name: str) -> None:
    """The step graph of a workflow, as a tree (dependencies in brackets)."""
    settings = settings_from(ctx)
    loaded = load_workflow(find_workflow(name, settings.project_dir), **_parts(settings.project_dir))  # type: ignore[arg-type]
    spec = loaded.spec
    tree = Tree(f"[bold]{spec.name}[/] [dim]{spec.description}[/]")
    inputs = tree.add("inputs")
    for key, declared in spec.inputs.items():
        inputs.add(f"{key}: {declared.type}" + ("" if declared.required else f" = {declared.default!r}"))
    steps = tree.add("steps")
    for step_id, step in spec.steps.items():
        deps = sorted(step_dependencies(step, spec.steps))
        _add_step(steps, step_id, step, deps)
    console.print(tree)


def _add_step(parent: Tree, step_id: str, step: StepSpec, deps: list[str]) -> None:
    what = {
        "agent": step.agent,
        "tool": step.tool,
        "map": f"each {step.as_} of {step.map}",
        "loop": None,
    }.get(step.kind)
    label = (
        f"[bold]{step_id}[/] {step.kind}"
        + (f": {what}" if what else "")
        + (f" [dim]after {', '.join(deps)}[/]" if deps else "")
    )
    node = parent.add(label)
    if step.step is not None:
        _add_step(node, "each", step.step, [])
    if step.loop is not None:
        loop = node.add(f"up to {step.loop.max_rounds} rounds, until {step.loop.until}")
        for name, inner in step.loop.steps.items():
            _add_step(loop, name, inner, [])


@workflows_app.command("schema")
def schema() -> None:
    """The JSON Schema of the workflow format, for editors."""
    console.print_json(json.dumps(WorkflowSpec.model_json_schema(by_alias=True)))
