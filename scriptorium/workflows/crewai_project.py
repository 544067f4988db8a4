"""Moving between CrewAI projects and Scriptorium: `import crewai` and `export crewai`.

Import reads a CrewAI project's `config/agents.yaml` and `config/tasks.yaml` and writes an agents
file and a workflow: one agent step per task, in order, each seeing the outputs CrewAI would give it
as context (the tasks its `context` names, or every earlier task), `{placeholders}` becoming
workflow inputs. Export writes the reverse from a workflow and the agents it uses, plus a small
`crew.py` that runs them. What has no counterpart on the other side is returned as notes (and
printed by the CLI), never dropped silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..agents import AgentCatalog, AgentSpec
from ..agents.loader import LIBRARY_DIR, agent_files
from ..errors import ConfigError
from ..fileio import write_atomic
from ..specfile import Located, SpecError, SpecErrors, load_yaml
from .loader import LoadedWorkflow, step_dependencies
from .spec import StepSpec

__all__ = ["Translation", "export_crewai", "find_crewai_config", "import_crewai"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}", re.S)
_INPUT_REF = re.compile(r"^\s*inputs\.([A-Za-z_][A-Za-z0-9_]*)\s*$")
_STEP_REF = re.compile(r"^\s*steps\.([A-Za-z][A-Za-z0-9_]*)\b")

# Tools a CrewAI project commonly names, and the registry tool that does the same job.
_TOOL_EQUIVALENTS = {
    "serperdevtool": "web_search",
    "serper_dev_tool": "web_search",
    "search_tool": "web_search",
    "duckduckgosearchtool": "web_search",
    "duckduckgo_search": "web_search",
    "websearchtool": "web_search",
    "web_search": "web_search",
    "filewritertool": "write_file",
    "file_writer_tool": "write_file",
    "write_file": "write_file",
    "memory_search": "memory_search",
    "read_source": "read_source",
}
# CrewAI agent fields with no effect in Scriptorium (said once per agent, not as problems).
_AGENT_IGNORED = ("verbose", "cache", "max_rpm", "respect_context_window", "inject_date", "date_format")
_AGENT_KEPT = ("role", "goal", "backstory", "max_iter", "tools", "llm", "allow_delegation")
_TASK_KEPT = ("description", "expected_output", "agent", "context", "output_file", "tools", "async_execution")


@dataclass
class Translation:
    """What a translation wrote, and what it could not carry over."""

    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def find_crewai_config(project: Path) -> Path:
    """The `config` folder of a CrewAI project (`PATH/config`, `PATH/src/*/config`, or PATH)."""
    candidates = [project / "config", *sorted(project.glob("src/*/config")), project]
    for folder in candidates:
        if (folder / "agents.yaml").is_file() and (folder / "tasks.yaml").is_file():
            return folder
    raise ConfigError(
        f"{project} is not a CrewAI project: no config/agents.yaml with config/tasks.yaml there",
        hint="pass the project folder (the one holding config/, or src/<name>/config/)",
    )


def import_crewai(project: Path, dest: Path, *, name: str | None = None, force: bool = False) -> Translation:
    """Write `dest/agents/NAME.yaml` and `dest/workflows/NAME.yaml` from a CrewAI project."""
    config = find_crewai_config(project)
    name = _identifier(name or project.resolve().name, "-")
    agents_file, tasks_file = config / "agents.yaml", config / "tasks.yaml"
    agents_doc, tasks_doc = load_yaml(agents_file), load_yaml(tasks_file)
    for doc in (agents_doc, tasks_doc):
        if not isinstance(doc.data, dict) or not doc.data:
            raise SpecErrors([SpecError(doc.file, "expected a mapping of names to entries")])
    out = Translation()
    if (config.parent / "crew.py").is_file() or (config.parent / "main.py").is_file():
        out.notes.append(
            f"{config.parent}: Python code (crew.py, main.py) is not read: tools, callbacks, LLM objects "
            "and the process defined there are not translated"
        )
    library = _library_agent_names()
    renamed = {
        key: (f"{name.replace('-', '_')}_{key}" if key in library else _identifier(str(key), "_"))
        for key in agents_doc.data
    }
    for key, new in renamed.items():
        if new != key:
            out.notes.append(f"{agents_file}: agent '{key}' is called '{new}' (a library agent has its name)")
    agents = {renamed[k]: _agent(agents_file, agents_doc, k, v, out) for k, v in agents_doc.data.items()}
    steps, inputs = _steps(tasks_file, tasks_doc, renamed, agents, out)
    tasks = [sid for sid, step in steps.items() if "agent" in step]
    for agent in agents.values():
        inputs.update(
            _PLACEHOLDER.findall(" ".join(str(agent.get(f, "")) for f in ("role", "goal", "backstory")))
        )
    workflow: dict[str, Any] = {
        "name": name,
        "description": f"Imported from the CrewAI project {project.resolve().name} "
        "(runs on either engine: --engine crewai or autogen).",
        "inputs": {var: {"type": "string", "description": f"CrewAI's {{{var}}}"} for var in sorted(inputs)},
        "steps": steps,
        "outputs": {"result": f"{{{{ steps.{tasks[-1]}.output }}}}"}
        | {sid: f"{{{{ steps.{sid}.output }}}}" for sid in tasks},
    }
    targets = [dest / "agents" / f"{name}.yaml", dest / "workflows" / f"{name}.yaml"]
    _refuse_overwrite(targets, force)
    header = f"# Imported from {project.resolve()} by `scriptorium import crewai`.\n"
    for path, data in zip(targets, (agents, workflow), strict=True):
        write_atomic(path, header + _dump(data))
        out.files.append(path)
    return out


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
        task: dict[str, Any] = {
            "description": description,
            "expected_output": _expected_output(agent),
            "agent": step.agent,
        }
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


# -- import ----------------------------------------------------------------------------------------


def _agent(file: Path, doc: Located, key: str, raw: Any, out: Translation) -> dict[str, Any]:
    line = doc.position((key,))[0]
    if not isinstance(raw, dict):
        raise SpecErrors([SpecError(file, "an agent must be a mapping of fields", line=line, field=key)])
    missing = [f for f in ("role", "goal") if not str(raw.get(f) or "").strip()]
    if missing:
        raise SpecErrors(
            [SpecError(file, f"agent '{key}' has no {' or '.join(missing)}", line=line, field=key)]
        )
    agent: dict[str, Any] = {
        "role": _clean(raw["role"]),
        "goal": _clean(raw["goal"]),
        "backstory": _clean(raw.get("backstory") or ""),
    }
    if raw.get("max_iter") is not None:
        agent["max_turns"] = max(1, min(20, int(raw["max_iter"])))
    tools = _tools(raw.get("tools") or [], f"{file}: agent '{key}'", out)
    if tools:
        agent["tools"] = tools
    if raw.get("llm"):
        out.notes.append(
            f"{file}:{line}: agent '{key}': llm '{raw['llm']}' not kept; every agent asks the served "
            "model (set model.name to pin one it serves)"
        )
    if raw.get("allow_delegation"):
        out.notes.append(f"{file}:{line}: agent '{key}': delegation is not translated (no hand-offs)")
    ignored = [f for f in raw if f in _AGENT_IGNORED]
    dropped = [f for f in raw if f not in _AGENT_KEPT and f not in _AGENT_IGNORED]
    if dropped:
        out.notes.append(f"{file}:{line}: agent '{key}': not translated: {', '.join(sorted(dropped))}")
    if ignored:
        out.notes.append(f"{file}:{line}: agent '{key}': no effect here: {', '.join(sorted(ignored))}")
    return agent


def _steps(
    file: Path,
    doc: Located,
    agent_names: Mapping[str, str],
    agents: dict[str, dict[str, Any]],
    out: Translation,
) -> tuple[dict[str, dict[str, Any]], set[str]]:
    steps: dict[str, dict[str, Any]] = {}
    ids: dict[str, str] = {}
    inputs: set[str] = set()
    problems: list[SpecError] = []
    for key, raw in doc.data.items():
        line = doc.position((key,))[0]
        if not isinstance(raw, dict):
            problems.append(SpecError(file, "a task must be a mapping of fields", line=line, field=key))
            continue
        agent = raw.get("agent")
        if agent not in agent_names:
            problems.append(
                SpecError(
                    file,
                    f"task '{key}' names agent '{agent}', which agents.yaml does not define"
                    if agent
                    else f"task '{key}' names no agent",
                    line=doc.position((key, "agent"))[0] or line,
                    field=f"{key}.agent",
                    hint="agents: " + ", ".join(agent_names),
                )
            )
            continue
        if not str(raw.get("description") or "").strip():
            problems.append(SpecError(file, f"task '{key}' has no description", line=line, field=key))
            continue
        sid = _identifier(str(key), "_")
        context = raw.get("context")
        if context is None:
            context_ids = list(ids.values())  # CrewAI's default: every earlier task's output
        else:
            unknown = [c for c in context if c not in ids]
            if unknown:
                problems.append(
                    SpecError(
                        file,
                        f"task '{key}' takes context from {', '.join(map(str, unknown))}, "
                        "which is not an earlier task",
                        line=doc.position((key, "context"))[0],
                        field=f"{key}.context",
                    )
                )
                continue
            context_ids = [ids[c] for c in context]
        prompt = _clean(raw["description"], keep_lines=True)
        if raw.get("expected_output"):
            prompt += "\n\nExpected output: " + _clean(raw["expected_output"], keep_lines=True)
        for cid in context_ids:
            prompt += f"\n\nContext from {cid}:\n{{{{ steps.{cid}.output }}}}"
        used = set(_PLACEHOLDER.findall(prompt))
        inputs |= used
        prompt = _PLACEHOLDER.sub(lambda m: f"{{{{ inputs.{m.group(1)} }}}}", prompt)
        agent_name = agent_names[str(agent)]
        step: dict[str, Any] = {"agent": agent_name, "prompt": prompt}
        variables = sorted(_placeholders(agents[agent_name]))
        if variables:
            step["variables"] = {v: f"{{{{ inputs.{v} }}}}" for v in variables}
        steps[sid] = step
        ids[str(key)] = sid
        where = f"{file}:{line}: task '{key}'"
        task_tools = _tools(raw.get("tools") or [], where, out)
        if task_tools:
            allow = agents[agent_name].setdefault("tools", [])
            allow.extend(t for t in task_tools if t not in allow)
            out.notes.append(f"{where}: its tools join agent '{agent_name}''s allowlist")
        if raw.get("output_file"):
            target = Path(str(raw["output_file"]))
            if target.is_absolute() or ".." in target.parts:
                out.notes.append(
                    f"{where}: output_file '{target}' is written as '{target.name}' in the run folder"
                )
                target = Path(target.name)
            steps[f"save_{sid}"] = {
                "tool": "write_file",
                "args": {"path": f"outputs/{target.as_posix()}", "content": f"{{{{ steps.{sid}.output }}}}"},
            }
        dropped = sorted(f for f in raw if f not in _TASK_KEPT)
        if dropped:
            out.notes.append(f"{where}: not translated: {', '.join(dropped)}")
        for schema in ("output_json", "output_pydantic"):
            if raw.get(schema):
                out.notes.append(
                    f"{where}: {schema} names a Python class; give agent '{agent_name}' an `output` "
                    "(a registered output model or a JSON schema) instead"
                )
    if problems:
        raise SpecErrors(problems)
    if not steps:
        raise SpecErrors([SpecError(file, "no tasks")])
    return steps, inputs


def _placeholders(agent: Mapping[str, Any]) -> set[str]:
    return set(_PLACEHOLDER.findall(" ".join(str(agent.get(f, "")) for f in ("role", "goal", "backstory"))))


def _tools(names: Any, where: str, out: Translation) -> list[str]:
    kept: list[str] = []
    for raw in names if isinstance(names, list) else [names]:
        tool = _TOOL_EQUIVALENTS.get(re.sub(r"[^a-z0-9_]", "", str(raw).lower()))
        if tool is None:
            out.notes.append(f"{where}: tool '{raw}' has no registry equivalent, left out")
        elif tool not in kept:
            kept.append(tool)
    return kept


def _library_agent_names() -> set[str]:
    names: set[str] = set()
    for file in agent_files(LIBRARY_DIR):
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
        if isinstance(data, dict):
            names.add(str(data.get("name", file.stem)))
    return names


# -- export ----------------------------------------------------------------------------------------


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


# -- shared ----------------------------------------------------------------------------------------


def _clean(text: Any, *, keep_lines: bool = False) -> str:
    value = str(text).strip()
    return value if keep_lines else re.sub(r"\s+", " ", value)


def _identifier(text: str, joiner: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_-]+", joiner, text).strip("-_")
    if joiner == "_":
        value = value.replace("-", "_")
    if not value or not value[0].isalpha():
        value = "x" + joiner + value
    return value[:64]


class _Dumper(yaml.SafeDumper):
    """Block style for text of several lines, so prompts read as they were written."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.split("\n")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def _dump(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


def _refuse_overwrite(paths: list[Path], force: bool) -> None:
    taken = [p for p in paths if p.exists()]
    if taken and not force:
        raise ConfigError(
            "would overwrite " + ", ".join(map(str, taken)), hint="pass --force to replace them"
        )


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
