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
import shutil
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..agents import AgentCatalog
from ..agents.loader import LIBRARY_DIR, agent_files
from ..errors import ConfigError
from ..fileio import write_atomic
from ..specfile import Located, SpecError, SpecErrors, load_yaml
from .crewai_models import read_model_classes
from .crewai_python import CrewPython, read_crew_python

__all__ = ["Translation", "find_crewai_config", "import_crewai"]

_PLACEHOLDER = re.compile(
    r"\{\{?([A-Za-z_][A-Za-z0-9_]*)\}?\}"
)  # CrewAI's {name}, and {{name}} as written too
_EXPRESSION = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}", re.S)
_INPUT_REF = re.compile(r"^\s*inputs\.([A-Za-z_][A-Za-z0-9_]*)\s*$")
_STEP_REF = re.compile(r"^\s*steps\.([A-Za-z][A-Za-z0-9_]*)\b")
# How an import hands a task the outputs CrewAI would give it as context (export reads it back).
CONTEXT_BLOCK = re.compile(r"\n*Context from ([A-Za-z]\w*):\n\{\{ steps\.\1\.output \}\}")

# Tools a CrewAI project commonly names, and the registry tool that does the same job.
_TOOL_EQUIVALENTS = {
    "serperdevtool": "web_search",
    "serper_dev_tool": "web_search",
    "search_tool": "web_search",
    "duckduckgosearchtool": "web_search",
    "duckduckgo_search": "web_search",
    "websearchtool": "web_search",
    "web_search_tool": "web_search",
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
    written: bool = True
    """False for a dry run: `files` and `contents` say what would be written."""
    contents: dict[Path, str] = field(default_factory=dict)


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


def import_crewai(
    project: Path, dest: Path, *, name: str | None = None, force: bool = False, dry_run: bool = False
) -> Translation:
    """Write `dest/agents/NAME.yaml` and `dest/workflows/NAME.yaml` from a CrewAI project; nothing
    is written unless the translation validates beside the project's own agents."""
    config = find_crewai_config(project)
    about = _pyproject(project)
    name = _identifier(name or str(about.get("name") or project.resolve().name), "-")
    targets = [dest / "agents" / f"{name}.yaml", dest / "workflows" / f"{name}.yaml"]
    if not dry_run:
        _refuse_overwrite(targets, force)
    agents_file, tasks_file = config / "agents.yaml", config / "tasks.yaml"
    agents_doc, tasks_doc = load_yaml(agents_file), load_yaml(tasks_file)
    for doc in (agents_doc, tasks_doc):
        if not isinstance(doc.data, dict) or not doc.data:
            raise SpecErrors([SpecError(doc.file, "expected a mapping of names to entries")])
    out = Translation()
    python = read_crew_python(project)
    out.notes += python.notes
    if python.process not in (None, "sequential"):
        out.notes.append(f"{python.files[0]}: process '{python.process}' runs as a sequential workflow here")
    if not python.files and any(project.rglob("*.py")):
        out.notes.append(f"{project}: no @CrewBase class in its Python: anything set there is not translated")
    library = _agent_names(LIBRARY_DIR)
    own = _agent_names(dest / "agents", skip=targets[0])
    exported = _library_as_exported(set(agents_doc.data) & library)
    renamed = {
        key: (f"{name.replace('-', '_')}_{key}" if key in library | own else _identifier(str(key), "_"))
        for key in agents_doc.data
    }
    for key, entry in exported.items():
        if agents_doc.data.get(key) == entry:  # `export crewai` wrote this library agent: it is that one
            renamed[key] = key
            out.notes.append(
                f"{agents_file}: agent '{key}' is the library's own (as exported), used as it is"
            )
    for key, new in renamed.items():
        if new != key:
            whose = "a library agent" if key in library else "an agent of this project"
            out.notes.append(f"{agents_file}: agent '{key}' is called '{new}' ({whose} has its name)")
    agents = {
        renamed[k]: _agent(agents_file, agents_doc, k, v, out)
        for k, v in agents_doc.data.items()
        if renamed[k] != k or k not in exported
    }
    for key, tools in python.agent_tools.items():
        if renamed.get(key) in agents:
            allow = agents[renamed[key]].setdefault("tools", [])
            allow += [t for t in _tools(tools, f"{python.files[0]}: agent '{key}'", out) if t not in allow]
            if not allow:
                del agents[renamed[key]]["tools"]
    steps, inputs = _steps(tasks_file, tasks_doc, renamed, agents, out, python)
    models = read_model_classes(python.model_files)
    for key, (model, where) in python.task_output.items():
        sid = _identifier(key, "_")
        if sid not in steps:
            continue  # a task tasks.yaml does not have: nothing to give it to
        schema = models.schema(model, out.notes)
        if schema is None:
            out.notes.append(
                f"{where}: task '{key}': output model {model} is not defined in the project: free text"
            )
        else:
            steps[sid]["output"] = schema
    tasks = [sid for sid, step in steps.items() if "agent" in step]
    for agent in agents.values():
        inputs.update(
            _PLACEHOLDER.findall(" ".join(str(agent.get(f, "")) for f in ("role", "goal", "backstory")))
        )
    workflow: dict[str, Any] = {
        "name": name,
        "description": str(
            about.get("description")
            or f"Imported from the CrewAI project {project.resolve().name} "
            "(runs on either engine: --engine crewai or autogen)."
        ),
        "inputs": {var: _input(var, python.inputs.get(var)) for var in sorted(inputs)},
        "steps": steps,
        "outputs": {"result": f"{{{{ steps.{tasks[-1]}.output }}}}"}
        | {sid: f"{{{{ steps.{sid}.output }}}}" for sid in tasks},
    }
    header = f"# Imported from {project.resolve()} by `scriptorium import crewai`.\n"
    out.contents = {
        path: header + _dump(data) for path, data in zip(targets, (agents, workflow), strict=True)
    }
    out.files = list(targets)
    _check_translation(dest, out.contents)
    if dry_run:
        out.written = False
        return out
    for path, text in out.contents.items():
        write_atomic(path, text)
    return out


def _pyproject(project: Path) -> dict[str, Any]:
    """The `[project]` table of the project's pyproject.toml (name, description), if it has one."""
    try:
        data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return {}
    table = data.get("project")
    return table if isinstance(table, dict) else {}


def _input(var: str, default: str | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": "string", "description": f"CrewAI's {{{var}}}"}
    if default is not None:
        entry["default"] = default
    return entry


def _library_as_exported(names: set[str]) -> dict[str, dict[str, Any]]:
    """The library agents of these names as `export crewai` writes them into agents.yaml."""
    if not names:
        return {}
    from ..agents import default_outputs
    from ..tools import default_registry
    from .crewai_layout import agent_entry

    catalog = AgentCatalog.load(default_registry(), default_outputs(), [])
    return {name: agent_entry(catalog.get(name))[0] for name in names if name in catalog.agents}


def _check_translation(dest: Path, contents: Mapping[Path, str]) -> None:
    """Load the translated workflow in a scratch copy of the project's agents: a translation that
    would not validate is refused before anything is written."""
    from ..agents import default_outputs
    from ..tools import default_registry
    from .loader import load_workflow

    with tempfile.TemporaryDirectory(prefix="scriptorium-import-") as scratch:
        agents_dir, workflows_dir = Path(scratch) / "agents", Path(scratch) / "workflows"
        agents_dir.mkdir()
        workflows_dir.mkdir()
        for file in agent_files(dest / "agents") if (dest / "agents").is_dir() else []:
            if file.name not in {p.name for p in contents if p.parent.name == "agents"}:
                shutil.copy(file, agents_dir / file.name)
        for path, text in contents.items():
            (Path(scratch) / path.parent.name / path.name).write_text(text, encoding="utf-8")
        tools, outputs = default_registry(), default_outputs()
        try:
            catalog = AgentCatalog.load(tools, outputs, [agents_dir])
            workflow = next(p for p in contents if p.parent.name == "workflows")
            load_workflow(workflows_dir / workflow.name, catalog=catalog, tools=tools, outputs=outputs)
        except (SpecErrors, SpecError, ConfigError) as exc:
            raise ConfigError(
                f"the translation does not validate, so nothing was written: {exc}".replace(
                    scratch, str(dest)
                ),
                hint="the notes above say what could not be carried over",
            ) from exc


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
    python: CrewPython,
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
        agent = raw.get("agent") or python.task_agent.get(str(key))  # crew.py: agent=self.NAME()
        if agent not in agent_names:
            problems.append(
                SpecError(
                    file,
                    f"task '{key}' names agent '{agent}', which agents.yaml does not define"
                    if agent
                    else f"task '{key}' names no agent",
                    line=doc.position((key, "agent"))[0] or line,
                    field=f"{key}.agent",
                    hint="add `agent: NAME` to the task, or assign it in crew.py (`agent=self.NAME()`); "
                    "agents: " + ", ".join(agent_names),
                )
            )
            continue
        if not str(raw.get("description") or "").strip():
            problems.append(SpecError(file, f"task '{key}' has no description", line=line, field=key))
            continue
        sid = _identifier(str(key), "_")
        context = raw.get("context")
        if context is None:
            context = python.task_context.get(str(key))  # crew.py: context=[self.other()]
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
        expected = _clean(raw.get("expected_output") or "", keep_lines=True)
        for cid in context_ids:
            prompt += f"\n\nContext from {cid}:\n{{{{ steps.{cid}.output }}}}"
        used = set(_PLACEHOLDER.findall(prompt))
        inputs |= used
        prompt = _PLACEHOLDER.sub(lambda m: f"{{{{ inputs.{m.group(1)} }}}}", prompt)
        agent_name = agent_names[str(agent)]
        step: dict[str, Any] = {"agent": agent_name, "prompt": prompt}
        if expected:  # CrewAI's own field, kept as one (the CrewAI engine passes it on as such)
            inputs |= set(_PLACEHOLDER.findall(expected))
            step["expected_output"] = _PLACEHOLDER.sub(lambda m: f"{{{{ inputs.{m.group(1)} }}}}", expected)
        variables = sorted(_placeholders(agents.get(agent_name, {})))
        if variables:
            step["variables"] = {v: f"{{{{ inputs.{v} }}}}" for v in variables}
        steps[sid] = step
        ids[str(key)] = sid
        where = f"{file}:{line}: task '{key}'"
        task_tools = _tools([*(raw.get("tools") or []), *python.task_tools.get(str(key), [])], where, out)
        if task_tools and agent_name not in agents:
            out.notes.append(f"{where}: its tools are not given to the library agent '{agent_name}'")
        elif task_tools:
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
        if not expected:
            out.notes.append(f"{where}: no expected_output (CrewAI requires one; none is given here)")
        if raw.get("async_execution"):
            out.notes.append(
                f"{where}: async_execution: every step here starts as soon as the steps it reads are done"
            )
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


def _agent_names(folder: Path, skip: Path | None = None) -> set[str]:
    """The agents defined in `folder` (one per file, or a mapping of many), but not in `skip`."""
    names: set[str] = set()
    for file in agent_files(folder) if folder.is_dir() else []:
        if skip is not None and file.resolve() == skip.resolve():
            continue
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue  # a broken file is the catalog's to report
        if isinstance(data, dict) and "role" in data:
            names.add(str(data.get("name", file.stem)))
        elif isinstance(data, dict):
            names.update(str(k) for k in data)
    return names


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
