"""Finding, loading and checking workflows.

A workflow is named (the built-in library, then the project's `workflows/` folder) or given by path.
Everything that can be known before a run is checked at load: unknown agents and tools, templates
that do not parse, references to missing inputs, steps or output fields, dependency cycles, and
maps over values that are not lists. Every problem names file, line and field.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from ..agents import AgentCatalog, OutputContext, OutputRegistry
from ..agents.loader import output_errors
from ..errors import ConfigError, plain_message
from ..specfile import Located, SpecError, SpecErrors, load_yaml, spec_errors
from ..tools import ToolRegistry
from .spec import StepSpec, WorkflowSpec
from .templates import TemplateError, has_template, references

__all__ = ["LIBRARY_DIR", "LoadedWorkflow", "find_workflow", "load_workflow", "step_dependencies"]

LIBRARY_DIR = Path(__file__).parent / "library"


@dataclass(frozen=True)
class LoadedWorkflow:
    spec: WorkflowSpec
    file: Path

    def spec_hash(self, catalog: AgentCatalog) -> str:
        """Changes when the workflow or any agent it uses changes: resuming then is refused. Fields
        at their defaults are left out, so a new optional field does not disown older runs."""
        used = sorted({s.agent for s in _all_steps(self.spec.steps) if s.agent})
        agents = {name: catalog.get(name).model_dump(mode="json") for name in used if name in catalog.agents}
        payload = json.dumps(
            {"workflow": self.spec.model_dump(mode="json", exclude_defaults=True), "agents": agents},
            sort_keys=True,
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def find_workflow(name_or_path: str, project_dir: Path) -> Path:
    """A path as given, else `workflows/NAME.yaml` in the project, else the library's."""
    as_path = Path(name_or_path)
    if as_path.suffix in (".yaml", ".yml") or as_path.is_file():
        if not as_path.is_file():
            raise ConfigError(f"no workflow file at {as_path}")
        return as_path
    for folder in (project_dir / "workflows", LIBRARY_DIR):
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{name_or_path}{suffix}"
            if candidate.is_file():
                return candidate
    known = sorted(
        {p.stem for f in (project_dir / "workflows", LIBRARY_DIR) if f.is_dir() for p in f.glob("*.y*ml")}
    )
    close = difflib.get_close_matches(name_or_path, known, n=1)
    raise ConfigError(
        f"no workflow named '{name_or_path}'" + (f"; did you mean '{close[0]}'?" if close else ""),
        hint="known workflows: " + (", ".join(known) or "none"),
    )


def load_workflow(
    path: Path, *, catalog: AgentCatalog, tools: ToolRegistry, outputs: OutputRegistry
) -> LoadedWorkflow:
    """Load and check a workflow file; raises `SpecErrors` listing every problem."""
    located = load_yaml(path)
    if not isinstance(located.data, dict):
        raise SpecErrors([SpecError(path, "expected a workflow (name, steps, …)")])
    data = {"name": path.stem, **located.data}
    try:
        spec = WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        problems = spec_errors(exc, located, WorkflowSpec)
        # The rest is still checked, so one pass lists every problem: without the steps and inputs
        # whose shape is wrong (what names them is not reported again as unknown).
        partial, dropped = _without_broken_parts(data, exc)
        if partial is not None:
            deeper = _Checker(partial, located, catalog, tools, outputs).check()
            problems += [p for p in deeper if not any(f"'{name}'" in str(p) for name in dropped)]
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        raise SpecErrors(problems) from exc
    problems = _Checker(spec, located, catalog, tools, outputs).check()
    if problems:
        raise SpecErrors(problems)
    return LoadedWorkflow(spec, path)


def _without_broken_parts(data: dict[str, Any], exc: ValidationError) -> tuple[WorkflowSpec | None, set[str]]:
    """The workflow less the steps, inputs and fields its shape errors are in (None when what is
    left is no workflow either), and the names of the steps and inputs left out."""
    trimmed = {
        key: dict(value) if key in ("steps", "inputs") and isinstance(value, dict) else value
        for key, value in data.items()
    }
    dropped: set[str] = set()
    for error in exc.errors():
        loc = error["loc"]
        if loc and loc[0] in ("steps", "inputs") and len(loc) > 1 and isinstance(trimmed.get(loc[0]), dict):
            trimmed[str(loc[0])].pop(str(loc[1]), None)
            dropped.add(str(loc[1]))
        elif loc and loc[0] not in ("steps", "name"):
            trimmed.pop(str(loc[0]), None)
    try:
        return WorkflowSpec.model_validate(trimmed), dropped
    except ValidationError:
        return None, dropped


def step_dependencies(step: StepSpec, known: Mapping[str, Any]) -> set[str]:
    """Top-level steps a step reads (from its templates) or names in `needs`."""
    found = set(step.needs)
    for text in _templates(step):
        try:
            chains = references(text)
        except TemplateError:
            continue  # reported where the template is checked
        for chain in chains:
            if len(chain) >= 2 and chain[0] == "steps" and chain[1] in known:
                found.add(str(chain[1]))
    return found


def _templates(step: StepSpec) -> Iterator[str]:
    """Every template string of a step and of the steps inside it."""
    for text in (step.prompt, step.citations, step.choices, step.avoid, step.map, step.when):
        if text:
            yield text
    yield from _strings(step.variables)
    yield from _strings(step.args)
    if step.gather is not None:
        yield from _strings(step.gather)
    if step.review is not None:
        yield from _strings(step.review)
    if step.step is not None:
        yield from _templates(step.step)
    if step.loop is not None:
        yield step.loop.until
        if step.loop.output:
            yield step.loop.output
        for inner in step.loop.steps.values():
            yield from _templates(inner)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _all_steps(steps: Mapping[str, StepSpec]) -> Iterator[StepSpec]:
    for step in steps.values():
        yield step
        if step.step is not None:
            yield from _all_steps({"_": step.step})
        if step.loop is not None:
            yield from _all_steps(step.loop.steps)


class _Checker:
    def __init__(
        self,
        spec: WorkflowSpec,
        located: Located,
        catalog: AgentCatalog,
        tools: ToolRegistry,
        outputs: OutputRegistry,
    ) -> None:
        self.spec = spec
        self.located = located
        self.catalog = catalog
        self.tools = tools
        self.outputs = outputs
        self.problems: list[SpecError] = []

    def error(self, at: tuple[Any, ...], message: str, hint: str | None = None) -> None:
        line, column = self.located.position(at)
        field = ".".join(str(p) for p in at)
        self.problems.append(
            SpecError(self.located.file, message, line=line, column=column, field=field, hint=hint)
        )

    def check(self) -> list[SpecError]:
        for step_id, step in self.spec.steps.items():
            self._step(("steps", step_id), step, scope=set())
        for name, text in self.spec.outputs.items():
            self._template(("outputs", name), text, scope=set())
        self._cycles()
        return self.problems

    def _tool_args(self, at: tuple[Any, ...], tool: str, args: dict[str, Any]) -> None:
        """Arguments the tool does not take or lacks, and literal values (no template in them)
        that its argument model refuses: all known before a run."""
        fields = self.tools.get(tool).args.model_fields
        for name, value in args.items():
            info = fields.get(name)
            if info is None:
                self.error(
                    (*at, "args", name),
                    f"'{tool}' takes no argument '{name}'",
                    "its arguments: " + ", ".join(sorted(fields)),
                )
            elif not has_template(value):
                try:
                    TypeAdapter(info.annotation).validate_python(value)
                except ValidationError as exc:
                    self.error(
                        (*at, "args", name), f"'{tool}' argument '{name}': {plain_message(exc.errors()[0])}"
                    )
        for name, info in fields.items():
            if info.is_required() and name not in args:
                self.error((*at, "args"), f"'{tool}' needs the argument '{name}'")

    def _step(self, at: tuple[Any, ...], step: StepSpec, scope: set[str]) -> None:
        if step.agent is not None and step.agent not in self.catalog.agents:
            close = difflib.get_close_matches(step.agent, self.catalog.names(), n=1)
            self.error(
                (*at, "agent"),
                f"unknown agent '{step.agent}'",
                f"did you mean '{close[0]}'?" if close else None,
            )
        if step.tool is not None:
            if step.tool not in self.tools.names():
                close = difflib.get_close_matches(step.tool, self.tools.names(), n=1)
                self.error(
                    (*at, "tool"),
                    f"unknown tool '{step.tool}'",
                    f"did you mean '{close[0]}'?" if close else None,
                )
            else:
                self._tool_args(at, step.tool, step.args)
        if step.output is not None:
            line, column = self.located.position((*at, "output"))
            field = ".".join(str(p) for p in (*at, "output"))
            self.problems += output_errors(step.output, self.outputs, self.located.file, line, column, field)
        for name in step.needs:
            if name not in self.spec.steps:
                self.error((*at, "needs"), f"needs an unknown step '{name}'")
        for key in ("prompt", "citations", "choices", "avoid", "expected_output", "map", "when"):
            text = getattr(step, key)
            if text:
                self._template((*at, key), text, scope)
        for key in ("variables", "args", "gather"):
            for name, text in (getattr(step, key) or {}).items():
                for piece in _strings(text):
                    self._template((*at, key, name), piece, scope)
        if step.review is not None:
            self._gate(at, step, scope)
        if step.step is not None:
            self._step((*at, "step"), step.step, scope | {step.as_})
        if step.loop is not None:
            inner_scope = scope | {"loop"}
            for name, inner in step.loop.steps.items():
                self._step((*at, "loop", "steps", name), inner, inner_scope)
            self._template((*at, "loop", "until"), step.loop.until, inner_scope)
            if step.loop.output:
                self._template((*at, "loop", "output"), step.loop.output, inner_scope)

    def _gate(self, at: tuple[Any, ...], step: StepSpec, scope: set[str]) -> None:
        if len(at) != 2:
            self.error((*at, "review"), "a review step must be a top-level step (not inside a map or loop)")
        for piece in _strings(step.review):
            self._template((*at, "review"), piece, scope)
        if step.shape is not None and step.shape not in self.outputs:
            close = difflib.get_close_matches(step.shape, self.outputs.names(), n=1)
            self.error(
                (*at, "shape"),
                f"unknown output model '{step.shape}'",
                f"did you mean '{close[0]}'?" if close else "models: " + ", ".join(self.outputs.names()),
            )
        if step.revise is not None and step.revise not in step_dependencies(step, self.spec.steps):
            self.error(
                (*at, "revise"),
                f"revise names '{step.revise}', which this gate does not show",
                "name a step whose output the review template reads",
            )

    def _template(self, at: tuple[Any, ...], text: str, scope: set[str]) -> None:
        try:
            chains = references(text)
        except TemplateError as exc:
            self.error(at, exc.message)
            return
        for chain in chains:
            root = chain[0]
            if root == "inputs":
                if len(chain) < 2:
                    continue
                if chain[1] not in self.spec.inputs:
                    close = difflib.get_close_matches(str(chain[1]), list(self.spec.inputs), n=1)
                    self.error(
                        at,
                        f"reads an unknown input '{chain[1]}'",
                        f"did you mean '{close[0]}'?" if close else None,
                    )
            elif root == "steps":
                self._step_reference(at, chain)
            elif root == "loop" and "loop" not in scope:
                self.error(at, "'loop' is only defined inside a loop step")

    def _step_reference(self, at: tuple[Any, ...], chain: tuple[Any, ...]) -> None:
        if len(chain) < 2:
            return
        target = str(chain[1])
        if target not in self.spec.steps:
            close = difflib.get_close_matches(target, list(self.spec.steps), n=1)
            self.error(
                at, f"reads an unknown step '{target}'", f"did you mean '{close[0]}'?" if close else None
            )
            return
        if at[:2] == ("steps", target):
            self.error(at, f"step '{target}' reads its own output")
            return
        if len(chain) >= 3 and chain[2] != "output":
            self.error(at, f"'steps.{target}.{chain[2]}': a step exposes only 'output'")
            return
        schema = self._output_schema(self.spec.steps[target])
        if schema is not None and len(chain) > 3:
            problem = _walk(schema, chain[3:])
            if problem:
                self.error(at, f"'steps.{target}.output{_dotted(chain[3:])}': {problem}")

    def _output_schema(self, step: StepSpec) -> dict[str, Any] | None:
        """The JSON schema of a step's output where it is known before the run."""
        model: type[BaseModel] | None = None
        if step.agent is not None and step.agent in self.catalog.agents:
            output = step.output if step.output is not None else self.catalog.get(step.agent).output
            if isinstance(output, dict):
                return output
            if isinstance(output, str) and output in self.outputs:
                model = self.outputs.resolve(output, OutputContext(("key",)))
            else:
                return {"type": "string"}
        elif step.tool is not None and step.tool in self.tools.names():
            model = self.tools.get(step.tool).result
        elif step.map is not None and step.step is not None:
            inner = self._output_schema(step.step)
            return {"type": "array", "items": inner or {}}
        if model is None:
            return None
        return model.model_json_schema()

    def _cycles(self) -> None:
        graph = {sid: step_dependencies(step, self.spec.steps) for sid, step in self.spec.steps.items()}
        state: dict[str, int] = {}

        def visit(node: str, trail: list[str]) -> None:
            state[node] = 1
            for dep in sorted(graph.get(node, ())):
                if state.get(dep) == 1:
                    cycle = [*trail[trail.index(dep) :], dep] if dep in trail else [node, dep]
                    self.error(("steps", node), "dependency cycle: " + " -> ".join(cycle))
                elif dep not in state:
                    visit(dep, [*trail, dep])
            state[node] = 2

        for node in graph:
            if node not in state:
                visit(node, [node])


def _walk(schema: dict[str, Any], path: tuple[Any, ...]) -> str | None:
    """None when `path` can exist in values of `schema`, else what is wrong."""
    defs = schema.get("$defs", {})
    node = schema
    for part in path:
        node = _deref(node, defs)
        kind = node.get("type")
        if isinstance(part, int) or (isinstance(part, str) and part.isdigit()):
            if kind not in (None, "array"):
                return f"indexes a {kind}, not a list"
            node = node.get("items", {})
            continue
        if part in ("length", "keys", "values", "items") and kind in ("array", "object"):
            return None  # Jinja helpers on lists and mappings
        if kind == "array":
            return f"'{part}' is read from a list (map over it, or index it)"
        properties = node.get("properties")
        if properties is None:
            return None  # free-form object or unknown: nothing to check against
        if part not in properties:
            close = difflib.get_close_matches(str(part), list(properties), n=1)
            return (
                f"no field '{part}'"
                + (f"; did you mean '{close[0]}'?" if close else "")
                + (f" (fields: {', '.join(properties)})")
            )
        node = properties[part]
    return None


def _deref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return dict(defs.get(ref.removeprefix("#/$defs/"), {}))
    for key in ("anyOf", "oneOf"):
        options = [o for o in node.get(key, []) if o.get("type") != "null"]
        if len(options) == 1:
            return _deref(options[0], defs)
    return node


def _dotted(parts: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
