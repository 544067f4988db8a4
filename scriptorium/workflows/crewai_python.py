"""What a CrewAI project says in Python, read without running it.

The usual CrewAI project keeps roles and task texts in `config/*.yaml` and wires the rest in a
`@CrewBase` class: `@task` methods return `Task(config=self.tasks_config["x"], agent=self.y(),
context=[self.z()], output_pydantic=Model, tools=[...])`, `@agent` methods return
`Agent(config=self.agents_config["y"], tools=[...])`, and `@crew` builds the `Crew` with its
`process`. This module walks those classes with `ast` (no import, no code run) and gives back each
task's agent and context, and what it cannot carry over, by name.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

from .crewai_models import attribute_name

__all__ = ["CrewPython", "read_crew_python"]

_OUTPUT_KEYWORDS = ("output_pydantic", "output_json")
_DROPPED_TASK_KEYWORDS = {
    "callback": "callback",
    "guardrail": "guardrail",
    "human_input": "human_input (use a `review` step)",
    "converter_cls": "converter_cls",
    "async_execution": "async_execution (steps here start when what they read is done)",
}
_DROPPED_AGENT_KEYWORDS = (
    "llm",
    "function_calling_llm",
    "allow_delegation",
    "knowledge_sources",
    "step_callback",
)


@dataclass
class CrewPython:
    files: list[Path] = field(default_factory=list)
    task_agent: dict[str, str] = field(default_factory=dict)
    """Task key (tasks.yaml) -> agent key (agents.yaml)."""
    task_context: dict[str, list[str]] = field(default_factory=dict)
    task_tools: dict[str, list[str]] = field(default_factory=dict)
    agent_tools: dict[str, list[str]] = field(default_factory=dict)
    """Tool classes or functions named in Python, by agent key."""
    task_output: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Task key -> (the class its output_pydantic or output_json names, `file:line`)."""
    model_files: list[Path] = field(default_factory=list)
    """Every Python file read (where the output classes may be defined)."""
    inputs: dict[str, str] = field(default_factory=dict)
    """The literal values of the `inputs = {...}` main.py kicks the crew off with."""
    task_order: list[str] = field(default_factory=list)
    process: str | None = None
    notes: list[str] = field(default_factory=list)
    """What Python sets that an import cannot carry, with file and line."""


def read_crew_python(folder: Path) -> CrewPython:
    """Every `@CrewBase` class, or script building Agents and Tasks from the config tables, in the
    Python files of `folder` (a CrewAI project, any depth)."""
    found = CrewPython()
    skipped = {".venv", "venv", "tests", "build", "dist"}
    for path in sorted(p for p in folder.rglob("*.py") if not skipped & set(p.relative_to(folder).parts)):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            found.notes.append(f"{path}: not read ({exc.__class__.__name__}): its Python is not translated")
            continue
        found.model_files.append(path)
        found.model_files += [f for f in _imported_files(path, tree) if f not in found.model_files]
        _read_inputs(path, tree, found)
        classes = [c for c in ast.walk(tree) if isinstance(c, ast.ClassDef) and _decorated(c, "CrewBase")]
        for crew_class in classes:
            _read_class(path, crew_class, found)
        if classes or _read_script(path, tree, found):
            found.files.append(path)
    return found


def _read_class(path: Path, crew_class: ast.ClassDef, found: CrewPython) -> None:
    """`@agent`/`@task`/`@crew` methods; `self.x()` names the agent or task of method `x`."""
    methods = [m for m in crew_class.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)]
    agents: dict[str, tuple[str, ast.Call | None]] = {}  # method name -> (agents.yaml key, its call)
    tasks: dict[str, tuple[str, ast.Call | None]] = {}
    for method in methods:
        call = _returned_call(method)
        if _decorated(method, "agent"):
            agents[method.name] = (_table_key(call, "agents_config") or method.name, call)
        elif _decorated(method, "task"):
            tasks[method.name] = (_table_key(call, "tasks_config") or method.name, call)
        elif _decorated(method, "crew") and call is not None:
            _read_crew(call, found)
    _read_parts(path, agents, tasks, _self_call, found)


def _read_script(path: Path, tree: ast.Module, found: CrewPython) -> bool:
    """A script without @CrewBase: `writer = Agent(config=agents_config["writer"])`, `t1 =
    Task(description=tasks_config["t1"]["description"], agent=writer, context=[t0])`."""
    agents: dict[str, tuple[str, ast.Call | None]] = {}  # variable -> (key, its call)
    tasks: dict[str, tuple[str, ast.Call | None]] = {}
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)):
            continue
        kind = attribute_name(node.value.func)
        for target in node.targets:
            if isinstance(target, ast.Name) and kind == "Agent":
                agents[target.id] = (_table_key(node.value, "agents_config") or target.id, node.value)
            elif isinstance(target, ast.Name) and kind == "Task":
                key = _table_key(node.value, "tasks_config")
                if key is not None:
                    tasks[target.id] = (key, node.value)
            elif kind == "Crew":
                _read_crew(node.value, found)
    if not tasks:
        return False
    _read_parts(path, agents, tasks, lambda n: n.id if isinstance(n, ast.Name) else None, found)
    return True


def _read_crew(call: ast.Call, found: CrewPython) -> None:
    process = _keyword(call, "process")
    if isinstance(process, ast.Attribute):
        found.process = process.attr


def _read_parts(
    path: Path,
    agents: dict[str, tuple[str, ast.Call | None]],
    tasks: dict[str, tuple[str, ast.Call | None]],
    reference: Callable[[ast.expr | None], str | None],
    found: CrewPython,
) -> None:
    """What the agents' and tasks' calls say, `reference` turning `self.x()` or `x` into a name."""
    for key, call in agents.values():
        if call is None:
            continue
        tools = _names(_keyword(call, "tools"))
        if tools:
            found.agent_tools.setdefault(key, []).extend(tools)
        for word in _DROPPED_AGENT_KEYWORDS:
            value = _keyword(call, word)
            if _given(value):
                found.notes.append(f"{path}:{call.lineno}: agent '{key}': {word} is not translated")
    for key, call in tasks.values():
        found.task_order.append(key)
        if call is None:
            continue
        agent = reference(_keyword(call, "agent"))
        if agent is not None:
            found.task_agent[key] = agents[agent][0] if agent in agents else agent
        context = _keyword(call, "context")
        if isinstance(context, ast.List):
            names = [name for e in context.elts if (name := reference(e)) is not None]
            found.task_context[key] = [tasks[n][0] if n in tasks else n for n in names]
        tools = _names(_keyword(call, "tools"))
        if tools:
            found.task_tools[key] = tools
        for word in _OUTPUT_KEYWORDS:
            model = attribute_name(value) if (value := _keyword(call, word)) is not None else None
            if model:
                found.task_output[key] = (model, f"{path}:{call.lineno}")
        for word, label in _DROPPED_TASK_KEYWORDS.items():
            value = _keyword(call, word)
            if _given(value):
                named = f" {attribute_name(value)}" if attribute_name(value) else ""
                found.notes.append(f"{path}:{call.lineno}: task '{key}': {label}{named} is not translated")


def _given(value: ast.expr | None) -> TypeGuard[ast.expr]:
    """A keyword set to something (`False` and `None` are CrewAI's defaults: nothing is lost)."""
    return value is not None and not (isinstance(value, ast.Constant) and value.value in (False, None))


def _table_key(call: ast.Call | None, table: str) -> str | None:
    """ "x" from `config=self.tasks_config["x"]` or `description=tasks_config["x"]["description"]`."""
    for node in ast.walk(call) if call is not None else ():
        if (
            isinstance(node, ast.Subscript)
            and attribute_name(node.value) == table
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, str)
        ):
            return node.slice.value
    return None


def _imported_files(path: Path, tree: ast.Module) -> list[Path]:
    """The project's own modules `path` imports from (a flow's crews import their output models
    from the flow's package: `from lead_score_flow.types import CandidateScore`), found beside it or
    in a folder above, never run."""
    found: list[Path] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom) or not node.module:
            continue  # `from . import x` names modules, not classes
        parts = node.module.split(".")
        if node.level:
            bases = [path.parents[node.level - 1]] if node.level <= len(path.parents) else []
        else:
            bases = list(path.parents)[:8]
        for base in bases:
            module = base.joinpath(*parts)
            candidates = [module.with_suffix(".py"), module / "__init__.py"]
            hit = next((c for c in candidates if c.is_file()), None)
            if hit is not None:
                found.append(hit)
                break
    return found


def _read_inputs(path: Path, tree: ast.Module, found: CrewPython) -> None:
    """`inputs = {"topic": "AI LLMs", ...}` (the `crewai create crew` main.py) or `INPUTS = {...}`:
    string values become the workflow's input defaults; computed ones are named in the notes."""
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)):
            continue
        if not any(isinstance(t, ast.Name) and t.id in ("inputs", "INPUTS") for t in node.targets):
            continue
        for key, value in zip(node.value.keys, node.value.values, strict=True):
            if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                continue
            if isinstance(value, ast.Constant) and isinstance(value.value, str | int | float):
                found.inputs.setdefault(key.value, str(value.value))
            else:
                found.notes.append(
                    f"{path}:{value.lineno}: input '{key.value}' is computed in Python "
                    f"({ast.unparse(value)[:60]}): the workflow asks for it"
                )


def _decorated(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef, name: str) -> bool:
    return any(attribute_name(d.func if isinstance(d, ast.Call) else d) == name for d in node.decorator_list)


def _returned_call(method: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Call | None:
    for node in ast.walk(method):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            return node.value
    return None


def _keyword(call: ast.Call | None, name: str) -> ast.expr | None:
    if call is None:
        return None
    return next((k.value for k in call.keywords if k.arg == name), None)


def _self_call(node: ast.expr | None) -> str | None:
    """ "y" from `self.y()`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _names(node: ast.expr | None) -> list[str]:
    """The tools in `tools=[SerperDevTool(), my_tool, ScrapeWebsiteTool(website_url=...)]`."""
    if not isinstance(node, ast.List):
        return []
    return [n for e in node.elts if (n := attribute_name(e.func if isinstance(e, ast.Call) else e))]
