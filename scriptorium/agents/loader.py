"""Finding and loading agent files: the built-in library, then the project's `agents/` folder.

A file holds one agent (its fields at the top level; the name defaults to the file's stem) or a
mapping of many (CrewAI's `agents.yaml` style: each key is an agent's name). Every problem, in every
file, is collected and reported with its file, line and field; unknown tools and unknown output
models are load-time errors. A project agent with a library agent's name replaces it.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import ValidationError

from ..errors import ConfigError
from ..specfile import Located, SpecError, SpecErrors, load_yaml, spec_errors
from ..tools import ToolRegistry
from .outputs import OutputRegistry
from .spec import AgentSpec

__all__ = [
    "LIBRARY_DIR",
    "AgentCatalog",
    "LoadedAgent",
    "UnknownAgent",
    "agent_files",
    "load_agent_file",
    "output_errors",
]

LIBRARY_DIR = Path(__file__).parent / "library"
_SUFFIXES = (".yaml", ".yml")
_AGENT_KEYS = {"role", "goal", "backstory", "name"}


class UnknownAgent(ConfigError):
    """No agent of that name in the library or the project."""


@dataclass(frozen=True)
class LoadedAgent:
    spec: AgentSpec
    file: Path
    line: int | None
    builtin: bool


def agent_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in _SUFFIXES and p.is_file())


def load_agent_file(
    path: Path, tools: ToolRegistry, outputs: OutputRegistry, *, builtin: bool = False
) -> tuple[list[LoadedAgent], list[SpecError]]:
    """The agents of one file and every problem found in it."""
    try:
        located = load_yaml(path)
    except SpecError as error:
        return [], [error]
    data = located.data
    if not isinstance(data, dict) or not data:
        return [], [
            SpecError(path, "expected an agent (role, goal, …) or a mapping of agent names to agents")
        ]
    if _AGENT_KEYS & set(data):
        entries: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((), {"name": path.stem, **data})]
    else:
        entries = []
        errors = []
        for key, value in data.items():
            if not isinstance(value, dict):
                line, column = located.position((key,))
                errors.append(
                    SpecError(
                        path, "an agent must be a mapping of fields", line=line, column=column, field=str(key)
                    )
                )
                continue
            if "name" in value and value["name"] != key:
                line, column = located.position((key, "name"))
                errors.append(
                    SpecError(
                        path,
                        f"the name '{value['name']}' differs from its key '{key}'",
                        line=line,
                        column=column,
                        field=f"{key}.name",
                    )
                )
                continue
            entries.append(((key,), {"name": str(key), **value}))
        if errors:
            return [], errors
    agents: list[LoadedAgent] = []
    problems: list[SpecError] = []
    for prefix, raw in entries:
        try:
            spec = AgentSpec.model_validate(raw)
        except ValidationError as exc:
            problems.extend(spec_errors(exc, located, AgentSpec, prefix))
            continue
        found = _reference_errors(spec, located, prefix, tools, outputs)
        problems.extend(found)
        if not found:
            agents.append(LoadedAgent(spec, path, located.position(prefix)[0], builtin))
    return agents, problems


def _reference_errors(
    spec: AgentSpec, located: Located, prefix: tuple[Any, ...], tools: ToolRegistry, outputs: OutputRegistry
) -> list[SpecError]:
    errors = []
    known_tools = tools.names()
    for index, name in enumerate(spec.tools):
        if name not in known_tools:
            line, column = located.position((*prefix, "tools", index))
            close = difflib.get_close_matches(name, known_tools, n=1)
            errors.append(
                SpecError(
                    located.file,
                    f"unknown tool '{name}'",
                    line=line,
                    column=column,
                    field=f"tools[{index}]",
                    hint=f"did you mean '{close[0]}'?" if close else "known tools: " + ", ".join(known_tools),
                )
            )
    line, column = located.position((*prefix, "output"))
    errors += output_errors(spec.output, outputs, located.file, line, column)
    if spec.memory == "none" and {"memory_search", "read_source"} & set(spec.tools):
        line, column = located.position((*prefix, "memory"))
        errors.append(
            SpecError(
                located.file,
                "memory tools are listed but memory is 'none'",
                line=line,
                column=column,
                field="memory",
                hint="set memory: read (or write)",
            )
        )
    return errors


def output_errors(
    output: str | dict[str, Any] | None,
    outputs: OutputRegistry,
    file: Path,
    line: int | None,
    column: int | None,
    field: str = "output",
) -> list[SpecError]:
    """What is wrong with an agent's (or an agent step's) `output`: an unknown model's name, or a
    JSON schema that is not valid or does not describe an object."""
    errors: list[SpecError] = []
    if isinstance(output, str) and output not in outputs:
        close = difflib.get_close_matches(output, outputs.names(), n=1)
        errors.append(
            SpecError(
                file,
                f"unknown output model '{output}'",
                line=line,
                column=column,
                field=field,
                hint=f"did you mean '{close[0]}'?"
                if close
                else "known outputs: " + ", ".join(outputs.names()),
            )
        )
    elif isinstance(output, dict):
        try:
            jsonschema.Draft202012Validator.check_schema(output)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.path) or "top level"
            errors.append(
                SpecError(
                    file,
                    f"not a valid JSON Schema ({where}: {exc.message})",
                    line=line,
                    column=column,
                    field=field,
                )
            )
        else:
            if output.get("type") != "object":
                errors.append(
                    SpecError(
                        file,
                        "a JSON-schema output must describe an object (type: object)",
                        line=line,
                        column=column,
                        field=field,
                    )
                )
    return errors


class AgentCatalog:
    """Every agent by name: the library's, overridden or extended by the project's."""

    def __init__(self, agents: dict[str, LoadedAgent]) -> None:
        self.agents = agents

    @classmethod
    def load(
        cls,
        tools: ToolRegistry,
        outputs: OutputRegistry,
        project_dirs: Iterable[Path] = (),
        *,
        library: Path = LIBRARY_DIR,
    ) -> AgentCatalog:
        """Load the library, then each project folder; raise `SpecErrors` with every problem."""
        merged: dict[str, LoadedAgent] = {}
        problems: list[SpecError] = []
        for folder, builtin in [(library, True), *((p, False) for p in project_dirs)]:
            seen_here: dict[str, LoadedAgent] = {}
            for file in agent_files(folder):
                agents, errors = load_agent_file(file, tools, outputs, builtin=builtin)
                problems.extend(errors)
                for agent in agents:
                    twin = seen_here.get(agent.spec.name)
                    if twin is not None:
                        problems.append(
                            SpecError(
                                agent.file,
                                f"duplicate agent name '{agent.spec.name}' (also in {twin.file}:{twin.line})",
                                line=agent.line,
                                field="name",
                            )
                        )
                        continue
                    seen_here[agent.spec.name] = agent
            merged.update(seen_here)
        if problems:
            raise SpecErrors(problems)
        return cls(merged)

    def names(self) -> list[str]:
        return sorted(self.agents)

    def with_models(self, models: Mapping[str, str]) -> AgentCatalog:
        """This catalog with the named agents (`*`: every other one) asking for the given served
        models (fine-tunes); an agent whose YAML names a model or adapter keeps it."""
        for name in models:
            if name != "*":
                self.loaded(name)  # an unknown name is an error, with a suggestion
        agents = dict(self.agents)
        for name, loaded in self.agents.items():
            model = models.get(name, models.get("*"))
            if model is not None and loaded.spec.requested_model is None:
                settings = loaded.spec.model.model_copy(update={"adapter": model})
                agents[name] = replace(loaded, spec=loaded.spec.model_copy(update={"model": settings}))
        return AgentCatalog(agents)

    def models_in_use(self) -> dict[str | None, list[str]]:
        """Agent names by the model they request (None: the endpoint's default)."""
        by_model: dict[str | None, list[str]] = {}
        for name in self.names():
            by_model.setdefault(self.agents[name].spec.requested_model, []).append(name)
        return by_model

    def get(self, name: str) -> AgentSpec:
        return self.loaded(name).spec

    def loaded(self, name: str) -> LoadedAgent:
        try:
            return self.agents[name]
        except KeyError:
            close = difflib.get_close_matches(name, self.names(), n=1)
            raise UnknownAgent(
                f"no agent named '{name}'" + (f"; did you mean '{close[0]}'?" if close else ""),
                hint="known agents: " + ", ".join(self.names()),
            ) from None
