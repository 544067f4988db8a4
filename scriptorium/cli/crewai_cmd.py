"""`scriptorium import crewai` and `scriptorium export crewai`: arrive from CrewAI, or leave for it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..config import Settings
from ..errors import ConfigError
from ..project import Project
from ..serving.server import ManagedServer, served_name
from ..workflows.crewai_export import export_crewai
from ..workflows.crewai_layout import CrewTarget
from ..workflows.crewai_project import Translation, import_crewai
from ._common import console, open_project, settings_from

import_app = typer.Typer(help="Bring agents and workflows in from another framework.", no_args_is_help=True)
export_app = typer.Typer(
    help="Write a workflow and its agents out for another framework.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")


@import_app.command("crewai")
def import_crewai_cmd(
    ctx: typer.Context,
    project: Annotated[Path, typer.Argument(help="The CrewAI project folder.", exists=True, file_okay=False)],
    name: Annotated[str | None, typer.Option(help="Workflow name (default: the folder's).")] = None,
    to: Annotated[Path | None, typer.Option(help="Project folder to write into (default: this one).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite files of the same name.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be written; write nothing.")
    ] = False,
) -> None:
    """Translate a CrewAI project (config/agents.yaml, config/tasks.yaml and the @CrewBase class in
    its Python) into agents/NAME.yaml and workflows/NAME.yaml; nothing is written unless it validates."""
    settings = settings_from(ctx)
    dest = to or settings.project_dir
    translation = import_crewai(project, dest, name=name, force=force, dry_run=dry_run)
    if dry_run:
        for path, text in translation.contents.items():
            console.rule(f"would write {path}")
            console.print(text, highlight=False, markup=False, soft_wrap=True)
        _report(translation)
        console.print("[green]valid[/]; nothing written (--dry-run)")
        return
    _report(translation)
    workflow = translation.files[-1]
    Project(settings.model_copy(update={"project_dir": dest})).workflow(workflow)
    console.print(f"[green]valid[/]; run it with: scriptorium run {workflow} --input NAME=VALUE …")


@export_app.command("crewai")
def export_crewai_cmd(
    ctx: typer.Context,
    workflow: Annotated[str, typer.Argument(help="A workflow name or path.")],
    to: Annotated[Path, typer.Option(help="Folder for the CrewAI project.")] = Path("crewai-export"),
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="NAME=VALUE: an input's value in main.py (repeatable)."),
    ] = None,
    force: Annotated[bool, typer.Option(help="Overwrite files of the same name.")] = False,
) -> None:
    """Write a CrewAI project (the `crewai create crew` layout: pyproject.toml, src/<pkg>/crew.py,
    main.py, config/) that `crewai run` runs against the model this project is served."""
    project = open_project(ctx)
    values = dict(_name_value(i) for i in inputs or [])
    translation = export_crewai(
        project.workflow(workflow),
        project.catalog,
        project.outputs,
        to,
        target=crew_target(project.settings),
        inputs=values,
        force=force,
    )
    _report(translation)
    console.print(f"run it with: cd {to} && crewai install && crewai run")


def _report(translation: Translation) -> None:
    for path in translation.files if translation.written else []:
        console.print(f"wrote {path}", highlight=False)
    if translation.notes:
        console.print(f"[yellow]not translated ({len(translation.notes)}):[/]")
        for note in translation.notes:
            console.print(f"  - {note}", highlight=False, soft_wrap=True)


def _name_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"--input {text!r}: expected NAME=VALUE")
    return name.strip(), value


def crew_target(settings: Settings) -> CrewTarget:
    """The endpoint an exported crew asks: the configured server, else the managed one (running or
    as it would start); the key stays in its file, or in OPENAI_API_KEY for a configured server."""
    if settings.endpoint_urls:
        return CrewTarget(settings.endpoint_urls[0], settings.model or "MODEL")
    key_file = None if settings.api_key else settings.config_dir / "api_key"  # as serving/keys.py keeps it
    state = ManagedServer(settings).running()
    if state is not None:
        return CrewTarget(state.base_url, settings.model or state.model, key_file)
    url = f"http://{settings.server.host}:{settings.server.port}/v1"
    return CrewTarget(url, settings.model or served_name(settings), key_file)
