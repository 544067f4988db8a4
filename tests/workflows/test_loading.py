"""Workflow files: the library and test workflows load; broken ones say file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.errors import ConfigError
from scriptorium.specfile import SpecErrors
from scriptorium.tools import default_registry
from scriptorium.workflows import LIBRARY_DIR, find_workflow, load_workflow, resolve_inputs
from scriptorium.workflows.inputs import InputError
from scriptorium.workflows.templates import TemplateError, evaluate, references

DATA = Path(__file__).parents[1] / "data" / "workflows"


@pytest.fixture(scope="module")
def parts() -> dict[str, object]:
    tools, outputs = default_registry(plugins=False), default_outputs()
    return {"catalog": AgentCatalog.load(tools, outputs), "tools": tools, "outputs": outputs}


def load(path: Path, parts: dict[str, object]):  # type: ignore[no-untyped-def]
    return load_workflow(path, **parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", [LIBRARY_DIR / "paper.yaml", DATA / "brief.yaml", DATA / "fanout.yaml"])
def test_shipped_workflows_load(path: Path, parts: dict[str, object]) -> None:
    assert load(path, parts).spec.steps


BROKEN = {
    "unknown agent": (
        "steps:\n  a:\n    agent: planer\n    prompt: hi\n",
        "3:5: field 'steps.a.agent': unknown agent 'planer'",
        "did you mean 'planner'",
    ),
    "unknown tool": (
        "steps:\n  a:\n    tool: memory_serch\n",
        "unknown tool 'memory_serch'",
        "memory_search",
    ),
    "bad tool arg": (
        "steps:\n  a:\n    tool: memory_search\n    args: {qeury: x}\n",
        "takes no argument 'qeury'",
        "query",
    ),
    "unknown step": (
        "steps:\n  a:\n    agent: planner\n    prompt: '{{ steps.plam.output }}'\n",
        "reads an unknown step 'plam'",
        None,
    ),
    "unknown field": (
        "steps:\n  plan:\n    agent: planner\n    prompt: hi\n  b:\n    agent: writer\n"
        "    prompt: '{{ steps.plan.output.sectons }}'\n",
        "7:5: field 'steps.b.prompt': 'steps.plan.output.sectons': no field 'sectons'; "
        "did you mean 'sections'?",
        None,
    ),
    "field read from a list": (
        "steps:\n  plan:\n    agent: planner\n    prompt: hi\n  b:\n    agent: writer\n"
        "    prompt: '{{ steps.plan.output.sections.heading }}'\n",
        "'heading' is read from a list",
        None,
    ),
    "unknown input": (
        "inputs:\n  topic: {}\nsteps:\n  a:\n    agent: planner\n    prompt: '{{ inputs.topc }}'\n",
        "unknown input 'topc'",
        "topic",
    ),
    "cycle": (
        "steps:\n  a:\n    agent: planner\n    prompt: '{{ steps.b.output }}'\n"
        "  b:\n    agent: planner\n    prompt: '{{ steps.a.output }}'\n",
        "dependency cycle: a -> b -> a",
        None,
    ),
    "two kinds": (
        "steps:\n  a:\n    agent: planner\n    tool: memory_search\n    prompt: hi\n",
        "exactly one of agent, tool",
        None,
    ),
    "unknown field in step": (
        "steps:\n  a:\n    agent: planner\n    promt: hi\n",
        "unknown field 'promt'",
        "did you mean 'prompt'",
    ),
    "template syntax": (
        "steps:\n  a:\n    agent: planner\n    prompt: '{{ inputs. }}'\n",
        "template syntax error",
        None,
    ),
    "loop outside": (
        "steps:\n  a:\n    agent: planner\n    prompt: '{{ loop.round }}'\n",
        "'loop' is only defined inside a loop step",
        None,
    ),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_workflows_name_file_line_and_field(
    case: str, parts: dict[str, object], tmp_path: Path
) -> None:
    text, message, hint = BROKEN[case]
    path = tmp_path / "w.yaml"
    path.write_text(text)
    with pytest.raises(SpecErrors) as caught:
        load(path, parts)
    rendered = str(caught.value)
    assert str(path) in rendered
    assert message in rendered, rendered
    if hint:
        assert hint in rendered


def test_a_shape_error_does_not_hide_the_deeper_checks(parts: dict[str, object], tmp_path: Path) -> None:
    """Every problem in one pass: a misspelt field in one step, an unknown agent in another, a bad
    template in a third; a step reading the misspelt one is not also called unknown."""
    path = tmp_path / "w.yaml"
    path.write_text(
        "steps:\n"
        "  a:\n    agent: planner\n    promt: hi\n"
        "  b:\n    agent: writr\n    prompt: 'from {{ steps.a.output }}'\n"
        "  c:\n    agent: planner\n    prompt: '{{ inputs.nothing }}'\n"
    )
    with pytest.raises(SpecErrors) as caught:
        load(path, parts)
    lines = str(caught.value).splitlines()
    assert any("field 'steps.a.promt': unknown field" in line for line in lines), lines
    assert any("field 'steps.b.agent': unknown agent 'writr'" in line for line in lines), lines
    assert any("steps.c.prompt" in line and "nothing" in line for line in lines), lines
    assert not any("unknown step" in line and "'a'" in line for line in lines), lines
    positions = [int(line.split(":")[1]) for line in lines if line.startswith(str(path))]
    assert positions == sorted(positions)  # in the order of the file


def test_find_by_name_project_first_then_library(tmp_path: Path) -> None:
    assert find_workflow("paper", tmp_path) == LIBRARY_DIR / "paper.yaml"
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "paper.yaml").write_text("steps: {}\n")
    assert find_workflow("paper", tmp_path) == tmp_path / "workflows" / "paper.yaml"
    with pytest.raises(ConfigError, match="did you mean 'paper'"):
        find_workflow("papr", tmp_path)


def test_inputs_are_checked_all_at_once(parts: dict[str, object]) -> None:
    spec = load(LIBRARY_DIR / "paper.yaml", parts).spec
    assert resolve_inputs(spec, {"topic": "LoRA"}) == {"topic": "LoRA", "sections": 4}
    with pytest.raises(InputError) as caught:
        resolve_inputs(spec, {"sections": 9, "topik": "x"})
    problems = caught.value.problems
    assert "unknown input 'topik' (did you mean 'topic'?)" in problems
    assert "missing required input 'topic'" in problems
    assert any("input 'sections'" in p and "maximum" in p for p in problems)


def test_templates_keep_native_values_and_refuse_internals() -> None:
    context = {"steps": {"plan": {"output": {"sections": [{"heading": "A"}]}}}, "x": 1}
    assert evaluate("{{ steps.plan.output.sections }}", context) == [{"heading": "A"}]
    assert evaluate('Literal {"json": true} and {{ x }}', context) == 'Literal {"json": true} and 1'
    with pytest.raises(TemplateError):
        evaluate("{{ x.__class__.__mro__ }}", context)
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        evaluate("{{ nope }}", context)
    assert ("steps", "plan", "output", "sections", 0, "heading") in references(
        "{{ steps.plan.output.sections[0].heading }}"
    )
