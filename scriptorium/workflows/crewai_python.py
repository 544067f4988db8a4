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
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CrewPython", "read_crew_python"]

_OUTPUT_KEYWORDS = ("output_pydantic", "output_json")
_DROPPED_TASK_KEYWORDS = {
    "callback": "callback",
    "guardrail": "guardrail",
    "human_input": "human_input (use a `review` step)",
    "converter_cls": "converter_cls",
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
    """Every `@CrewBase` class in the Python files of `folder` (a CrewAI project, any depth)."""
    found = CrewPython()
    skipped = {".venv", "venv", "tests", "build", "dist"}
    for path in sorted(p for p in folder.rglob("*.py") if not skipped & set(p.relative_to(folder).parts)):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except (SyntaxError, UnicodeDecodeError, OSError) as exc:
            found.notes.append(f"{path}: not read ({exc.__class__.__name__}): its Python is not translated")
            continue
        found.model_files.append(path)
        _read_inputs(path, tree, found)
        classes = [c for c in ast.walk(tree) if isinstance(c, ast.ClassDef) and _decorated(c, "CrewBase")]
        if classes:
            found.files.append(path)
        for crew_class in classes:
            _read_class(path, crew_class, found)
    return found


def _read_class(path: Path, crew_class: ast.ClassDef, found: CrewPython) -> None:
    methods = [m for m in crew_class.body if isinstance(m, ast.FunctionDef | ast.AsyncFunctionDef)]
    agent_keys: dict[str, str] = {}  # method name -> agents.yaml key
    task_keys: dict[str, str] = {}
    for method in methods:
        call = _returned_call(method)
        if _decorated(method, "agent"):
            key = _config_key(call, "agents_config") or method.name
            agent_keys[method.name] = key
            if call is not None:
                tools = _names(_keyword(call, "tools"))
                if tools:
                    found.agent_tools.setdefault(key, []).extend(tools)
                for word in _DROPPED_AGENT_KEYWORDS:
                    if _keyword(call, word) is not None:
                        found.notes.append(f"{path}:{call.lineno}: agent '{key}': {word} is not translated")
        elif _decorated(method, "task"):
            task_keys[method.name] = _config_key(call, "tasks_config") or method.name
    for method in methods:
        call = _returned_call(method)
        if _decorated(method, "task") and call is not None:
            key = task_keys[method.name]
            found.task_order.append(key)
            agent = _self_call(_keyword(call, "agent"))
            if agent is not None:
                found.task_agent[key] = agent_keys.get(agent, agent)
            context = _keyword(call, "context")
            if isinstance(context, ast.List):
                found.task_context[key] = [
                    task_keys.get(name, name) for e in context.elts if (name := _self_call(e)) is not None
                ]
            tools = _names(_keyword(call, "tools"))
            if tools:
                found.task_tools[key] = tools
            for word in _OUTPUT_KEYWORDS:
                model = _name(value) if (value := _keyword(call, word)) is not None else None
                if model:
                    found.task_output[key] = (model, f"{path}:{call.lineno}")
            for word, label in _DROPPED_TASK_KEYWORDS.items():
                value = _keyword(call, word)
                if value is not None and not (
                    isinstance(value, ast.Constant) and value.value in (False, None)
                ):
                    named = f" {_name(value)}" if _name(value) else ""
                    found.notes.append(
                        f"{path}:{call.lineno}: task '{key}': {label}{named} is not translated"
                    )
        elif _decorated(method, "crew") and call is not None:
            process = _keyword(call, "process")
            if isinstance(process, ast.Attribute):
                found.process = process.attr


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
    return any(_name(d.func if isinstance(d, ast.Call) else d) == name for d in node.decorator_list)


def _returned_call(method: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.Call | None:
    for node in ast.walk(method):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            return node.value
    return None


def _keyword(call: ast.Call | None, name: str) -> ast.expr | None:
    if call is None:
        return None
    return next((k.value for k in call.keywords if k.arg == name), None)


def _config_key(call: ast.Call | None, table: str) -> str | None:
    """ "x" from `config=self.tasks_config["x"]`."""
    value = _keyword(call, "config")
    if (
        isinstance(value, ast.Subscript)
        and _name(value.value) == table
        and isinstance(value.slice, ast.Constant)
        and isinstance(value.slice.value, str)
    ):
        return value.slice.value
    return None


def _self_call(node: ast.expr | None) -> str | None:
    """ "y" from `self.y()`."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def _names(node: ast.expr | None) -> list[str]:
    """The tools in `tools=[SerperDevTool(), my_tool, ScrapeWebsiteTool(website_url=...)]`."""
    if not isinstance(node, ast.List):
        return []
    return [n for e in node.elts if (n := _name(e.func if isinstance(e, ast.Call) else e))]


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None
