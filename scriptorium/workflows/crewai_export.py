"""`scriptorium export crewai`: a workflow's agent steps as a CrewAI project in the layout
`crewai create crew` makes (`crewai_layout`), which `crewai run` runs; what CrewAI cannot express
is listed, never dropped in silence.

Each agent step is a task: its prompt the description (inputs as CrewAI's `{name}`, earlier steps'
outputs as the task's `context`), its output model a pydantic class in models.py. Template parts
with no CrewAI counterpart (a map's item, a loop) become inputs of the crew, named in the notes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..agents import AgentCatalog, AgentSpec, OutputContext, OutputRegistry
from ..errors import ConfigError
from ..fileio import write_atomic
from .crewai_layout import CrewTarget, agent_entry, crew_py, main_py, pyproject_toml, readme
from .crewai_models import class_name, models_source
from .crewai_project import (
    _EXPRESSION,
    _INPUT_REF,
    _STEP_REF,
    CONTEXT_BLOCK,
    Translation,
    _dump,
    _identifier,
    _refuse_overwrite,
)
from .loader import LoadedWorkflow, step_dependencies
from .spec import StepSpec

__all__ = ["CrewTarget", "export_crewai"]

_FOR_BLOCK = re.compile(r"\{%-?\s*for\s+(\w+)\s+in\s+(.+?)\s*-?%\}(.*?)\{%-?\s*endfor\s*-?%\}", re.S)
_TAG = re.compile(r"\{%.*?%\}", re.S)


def export_crewai(
    loaded: LoadedWorkflow,
    catalog: AgentCatalog,
    outputs: OutputRegistry,
    dest: Path,
    *,
    target: CrewTarget,
    inputs: Mapping[str, str] | None = None,
    force: bool = False,
) -> Translation:
    """Write a CrewAI project for `loaded` into `dest` (pyproject.toml, src/<pkg>/...); nothing is
    written when a file of the same name exists, unless `force`."""
    out = Translation()
    spec = loaded.spec
    package = _identifier(spec.name, "_").lower()
    tasks: dict[str, dict[str, Any]] = {}
    task_models: dict[str, str | None] = {}
    models: dict[str, dict[str, Any]] = {}
    used: list[str] = []
    crew_inputs: dict[str, str | None] = {}
    for path, step, scope in _walk(spec.steps):
        where = f"step '{path}'"
        if scope:
            out.notes.append(f"{where} runs inside {scope} (once per item or round); CrewAI runs it once")
        if step.agent is None:
            out.notes.append(f"{where} is a {step.kind} step: CrewAI tasks are agent calls only, left out")
            continue
        assert step.prompt is not None
        for what in ("citations", "choices", "avoid", "when"):
            if getattr(step, what):
                out.notes.append(f"{where}: '{what}' has no CrewAI counterpart, left out")
        description, context = _crewai_text(step.prompt, where, out, crew_inputs, tasks)
        description = _fill_variables(description, step.variables)
        agent = catalog.get(step.agent)
        agent_key = _identifier(step.agent, "_")
        if agent_key not in used:
            used.append(agent_key)
        name = _identifier(path, "_")
        model = _output_model(step.output if step.output is not None else agent.output, name, outputs, models)
        expected = (
            _crewai_text(step.expected_output, where, out, crew_inputs, tasks)[0]
            if step.expected_output
            else _expected_output(agent, model)
        )
        task: dict[str, Any] = {"description": description, "expected_output": expected, "agent": agent_key}
        if tasks:  # explicit, even empty: without it CrewAI would pass every earlier task's output
            task["context"] = [_identifier(c, "_") for c in context if _identifier(c, "_") in tasks]
        tasks[name] = task
        task_models[name] = model
    if not tasks:
        raise ConfigError(f"workflow '{spec.name}' has no agent steps: nothing to export")
    agent_names = {_identifier(a, "_"): a for a in catalog.names()}
    agents: dict[str, dict[str, Any]] = {}
    for key in used:
        agents[key], notes = agent_entry(catalog.get(agent_names[key]))
        out.notes += notes
    given = dict(inputs or {})
    unknown = sorted(set(given) - set(spec.inputs) - set(crew_inputs))
    if unknown:
        raise ConfigError(
            f"--input {unknown[0]}: the crew has no input of that name",
            hint="its inputs: " + ", ".join([*spec.inputs, *crew_inputs]),
        )
    for name, field in spec.inputs.items():
        default = None if field.required else field.default
        crew_inputs[name] = default if isinstance(default, str | None) else json.dumps(default)
    crew_inputs.update(given)
    for name, value in crew_inputs.items():
        if value is None:
            out.notes.append(
                f"input '{name}' has no value: main.py asks for it (or pass --input {name}=VALUE)"
            )
    crew_class = class_name(package) + "Crew"
    source = dest / "src" / package
    description = spec.description or f"The Scriptorium workflow {spec.name} as a crew"
    files: dict[Path, str] = {
        dest / "pyproject.toml": pyproject_toml(spec.name, package, description),
        source / "__init__.py": "",
        source / "config" / "agents.yaml": _dump(agents),
        source / "config" / "tasks.yaml": _dump(tasks),
        source / "crew.py": crew_py(
            workflow=spec.name, class_name=crew_class, target=target, agents=used, tasks=task_models
        ),
        source / "main.py": main_py(package=package, class_name=crew_class, inputs=crew_inputs),
    }
    if models:
        files[source / "models.py"] = models_source(models)
    files[dest / "README.md"] = readme(name=spec.name, description=description, package=package)
    _refuse_overwrite(list(files), force)
    for file, text in files.items():
        write_atomic(file, text)
        out.files.append(file)
    out.contents = files
    return out


def _walk(
    steps: Mapping[str, StepSpec], prefix: str = "", scope: str = ""
) -> Iterator[tuple[str, StepSpec, str]]:
    """Steps in an order that respects their dependencies, nested ones after their parent's place."""
    pending = dict(steps)
    while pending:
        ready = [sid for sid, step in pending.items() if not step_dependencies(step, pending) - {sid}]
        for sid in ready or list(pending)[:1]:
            step = pending.pop(sid)
            path = f"{prefix}{sid}"
            if step.step is not None:
                yield from _walk({sid: step.step}, prefix, f"map step '{path}'")
            elif step.loop is not None:
                yield from _walk(step.loop.steps, f"{path}.", f"loop '{path}'")
            else:
                yield path, step, scope


def _crewai_text(
    template: str, where: str, out: Translation, crew_inputs: dict[str, str | None], tasks: Collection[str]
) -> tuple[str, list[str]]:
    """A prompt template as CrewAI text: inputs as `{name}`, earlier steps' outputs as context, and
    what CrewAI has no counterpart for (a map's item, a loop over a list) as inputs of the crew."""
    context = [m.group(1) for m in CONTEXT_BLOCK.finditer(template)]  # what `import crewai` wrote
    template = CONTEXT_BLOCK.sub("", template)
    as_inputs: list[str] = []

    def reference(expression: str) -> str:
        expression = expression.strip()
        as_input = _INPUT_REF.match(expression)
        if as_input:
            return "{" + as_input.group(1) + "}"
        as_step = _STEP_REF.match(expression)
        if as_step and _identifier(as_step.group(1), "_") in tasks:  # a tool step's output is an input
            step = as_step.group(1)
            if step not in context:
                context.append(step)
            rest = re.findall(r"\.([A-Za-z_]\w*)", _STEP_REF.sub("", expression).removeprefix(".output"))
            return (
                f"(the {rest[-1]} of {step}'s output, given as context)"
                if rest
                else (f"(the output of {step}, given as context)")
            )
        bare = re.sub(r"^steps\.|\.output\b", "", expression.split("|")[0].strip())  # survey.headings
        name = _identifier(re.sub(r"\W+", "_", bare), "_").lower()
        crew_inputs.setdefault(name, None)
        as_inputs.append(f"{expression} -> {{{name}}}")
        return "{" + name + "}"

    def loop(match: re.Match[str]) -> str:
        return reference(match.group(2))

    text = _FOR_BLOCK.sub(loop, template)
    text = _EXPRESSION.sub(lambda m: reference(m.group(1)) if m.group(1) is not None else "", text)
    dropped = _TAG.findall(text)
    text = _TAG.sub("", text).strip()
    if as_inputs:
        out.notes.append(
            f"{where}: template parts with no CrewAI counterpart are inputs of the crew: "
            + ", ".join(as_inputs)
        )
    if dropped:
        out.notes.append(f"{where}: template tags left out: " + ", ".join(dropped[:3]))
    return text, context


def _fill_variables(text: str, variables: Mapping[str, str]) -> str:
    for name, template in variables.items():
        as_input = _INPUT_REF.match(template.strip().removeprefix("{{").removesuffix("}}"))
        if as_input and as_input.group(1) != name:
            text = text.replace("{" + name + "}", "{" + as_input.group(1) + "}")
    return text


def _output_model(
    output: str | dict[str, Any] | None, task: str, outputs: OutputRegistry, models: dict[str, dict[str, Any]]
) -> str | None:
    """The class name of a task's output model, its schema added to `models` (None: free text)."""
    if output is None:
        return None
    if isinstance(output, str):
        schema = outputs.resolve(output, OutputContext()).model_json_schema()
        name = class_name(output)
    else:
        schema = output
        name = class_name(str(output.get("title") or f"{task}_output"))
    if name in models and models[name] != schema:
        name = next(f"{name}{i}" for i in range(2, 1000) if f"{name}{i}" not in models)
    models[name] = schema
    return name


def _expected_output(agent: AgentSpec, model: str | None) -> str:
    if model is not None:
        return f"JSON that fits the {model} model"
    return f"The {agent.role}'s answer"
