"""`scriptorium export crewai`: a workflow's agent steps as a CrewAI project (config/agents.yaml,
config/tasks.yaml and a crew.py that builds the crew), with what CrewAI cannot express listed."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..agents import AgentCatalog, AgentSpec
from ..errors import ConfigError
from ..fileio import write_atomic
from .crewai_project import (
    _EXPRESSION,
    _INPUT_REF,
    _STEP_REF,
    Translation,
    _dump,
    _refuse_overwrite,
)
from .loader import LoadedWorkflow, step_dependencies
from .spec import StepSpec

__all__ = ["export_crewai"]


def export_crewai(
    loaded: LoadedWorkflow, catalog: AgentCatalog, dest: Path, *, force: bool = False
) -> Translation:
    """Write `dest/config/agents.yaml`, `dest/config/tasks.yaml` and `dest/crew.py`."""
    out = Translation()
    spec = loaded.spec
    tasks: dict[str, dict[str, Any]] = {}
    used: list[str] = []
    for path, step, scope in _walk(spec.steps):
        where = f"step '{path}'"
        if scope:
            out.notes.append(f"{where} runs inside {scope} (once per item or round); CrewAI runs it once")
        if step.agent is None:
            out.notes.append(f"{where} is a {step.kind} step: CrewAI tasks are agent calls only, left out")
            continue
        assert step.prompt is not None
        for what in ("citations", "choices", "when"):
            if getattr(step, what):
                out.notes.append(f"{where}: '{what}' has no CrewAI counterpart, left out")
        description, context = _crewai_text(step.prompt, where, out)
        description = _fill_variables(description, step.variables)
        agent = catalog.get(step.agent)
        if step.agent not in used:
            used.append(step.agent)
        expected = (
            _crewai_text(step.expected_output, where, out)[0]
            if step.expected_output
            else _expected_output(agent)
        )
        task: dict[str, Any] = {"description": description, "expected_output": expected, "agent": step.agent}
        context = [c for c in context if c in tasks]
        if context:
            task["context"] = context
        tasks[path.replace(".", "_")] = task
    if not tasks:
        raise ConfigError(f"workflow '{spec.name}' has no agent steps: nothing to export")
    agents = {name: _crewai_agent(catalog.get(name), out) for name in used}
    config = dest / "config"
    targets = [config / "agents.yaml", config / "tasks.yaml", dest / "crew.py"]
    _refuse_overwrite(targets, force)
    header = f"# Exported from the Scriptorium workflow '{spec.name}' by `scriptorium export crewai`.\n"
    for target, data in zip(targets, (agents, tasks), strict=False):
        write_atomic(target, header + _dump(data))
        out.files.append(target)
    write_atomic(targets[2], _CREW_PY.format(workflow=spec.name))
    out.files.append(targets[2])
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


def _crewai_text(template: str, where: str, out: Translation) -> tuple[str, list[str]]:
    """A prompt template as CrewAI text: inputs as `{name}`, step outputs as context, the rest marked."""
    context: list[str] = []
    untranslated: list[str] = []

    def replace(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression is not None:
            as_input = _INPUT_REF.match(expression)
            if as_input:
                return "{" + as_input.group(1) + "}"
            as_step = _STEP_REF.match(expression)
            if as_step and _STEP_REF.sub("", expression).strip() in ("", ".output"):
                if as_step.group(1) not in context:
                    context.append(as_step.group(1))
                return f"(the output of {as_step.group(1)}, given as context)"
        untranslated.append(match.group(0).strip())
        return "<" + (expression or "").strip() + ">" if expression is not None else ""

    text = _EXPRESSION.sub(replace, template).strip()
    if untranslated:
        out.notes.append(
            f"{where}: template parts with no CrewAI counterpart are left as <...>: "
            + ", ".join(untranslated[:3])
            + (" …" if len(untranslated) > 3 else "")
        )
    return text, context


def _fill_variables(text: str, variables: Mapping[str, str]) -> str:
    for name, template in variables.items():
        as_input = _INPUT_REF.match(template.strip().removeprefix("{{").removesuffix("}}"))
        if as_input and as_input.group(1) != name:
            text = text.replace("{" + name + "}", "{" + as_input.group(1) + "}")
    return text


def _expected_output(agent: AgentSpec) -> str:
    if isinstance(agent.output, str):
        return f"JSON matching Scriptorium's '{agent.output}' output model"
    if isinstance(agent.output, dict):
        return "JSON matching this schema: " + yaml.safe_dump(agent.output, default_flow_style=True).strip()
    return f"The {agent.role}'s answer"


def _crewai_agent(agent: AgentSpec, out: Translation) -> dict[str, Any]:
    backstory = agent.backstory
    if agent.instructions:
        backstory = (backstory + "\n\n" + agent.instructions).strip()
        out.notes.append(f"agent '{agent.name}': instructions are appended to the backstory")
    entry: dict[str, Any] = {
        "role": agent.role,
        "goal": agent.goal,
        "backstory": backstory,
        "max_iter": agent.max_turns,
        "allow_delegation": False,
    }
    if agent.model.name:
        entry["llm"] = agent.model.name
    if agent.tools:
        out.notes.append(
            f"agent '{agent.name}': tools {', '.join(agent.tools)} are Scriptorium's; crew.py leaves them out"
        )
    if agent.output is not None:
        out.notes.append(
            f"agent '{agent.name}': its output schema becomes the tasks' expected_output text; "
            "set output_pydantic in crew.py to enforce it"
        )
    if agent.memory != "none":
        out.notes.append(f"agent '{agent.name}': memory access ({agent.memory}) is not translated")
    return entry


_CREW_PY = '''"""The crew exported from the Scriptorium workflow '{workflow}'.

    python crew.py topic="retrieval-augmented generation"

Agents and tasks come from config/; set the model with OPENAI_API_BASE, OPENAI_API_KEY and
OPENAI_MODEL_NAME (or an `llm` per agent in config/agents.yaml).
"""

import sys
from pathlib import Path

import yaml
from crewai import Agent, Crew, Process, Task

HERE = Path(__file__).parent


def build_crew() -> Crew:
    agents_config = yaml.safe_load((HERE / "config" / "agents.yaml").read_text())
    tasks_config = yaml.safe_load((HERE / "config" / "tasks.yaml").read_text())
    agents = {{name: Agent(**fields) for name, fields in agents_config.items()}}
    tasks: dict[str, Task] = {{}}
    for name, fields in tasks_config.items():
        tasks[name] = Task(
            name=name,
            description=fields["description"],
            expected_output=fields["expected_output"],
            agent=agents[fields["agent"]],
            context=[tasks[c] for c in fields.get("context", [])],
        )
    return Crew(agents=list(agents.values()), tasks=list(tasks.values()), process=Process.sequential)


if __name__ == "__main__":
    inputs = dict(arg.split("=", 1) for arg in sys.argv[1:])
    print(build_crew().kickoff(inputs=inputs).raw)
'''
