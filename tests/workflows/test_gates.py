"""Review gates on the model doubles: a run parks, a person answers (from Python or the CLI), the
run resumes without repeating a model call; edits are checked; a rejection sends work back."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from typer.testing import CliRunner

from scriptorium import Project
from scriptorium.cli import app
from scriptorium.events import GateDecided, GateOpened, read_trace
from scriptorium.events.otel import OtelSink
from scriptorium.paper.draft import PaperText
from scriptorium.paper.plan import PaperOutline
from scriptorium.testing import FunctionModel, ModelCall, SchemaModel
from scriptorium.workflows.gates import Gate, GateDecision, GateRefused, answer_gate, pending_gate

NEUTRAL = Path(__file__).parents[2] / "bench" / "quality" / "neutral" / "nikola-tesla"


def _corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "notes"
    shutil.copytree(NEUTRAL / "sources", corpus)
    return corpus


async def test_a_parked_paper_run_is_answered_with_an_edit_and_resumes_without_a_model_call(
    tmp_path: Path,
) -> None:
    first = SchemaModel()
    project = Project.open(tmp_path, model=first)
    inputs = {"topic": "Nikola Tesla", "sections": 3}
    parked = await project.run("paper", inputs, corpus=[_corpus(tmp_path)], review=["outline"])
    assert parked.result.status == "waiting", parked.result.error
    assert "scriptorium review" in (parked.result.error or "")
    gate = pending_gate(parked.run_dir)
    assert gate is not None and gate.path == "outline"
    shown = PaperOutline.model_validate(gate.shown)
    assert len(shown.headings) == 3
    assert not (parked.run_dir / "outputs" / "paper.md").exists()  # nothing assembled before the answer

    edited = {"title": "Tesla and the electric century", "headings": ["Alpha one", "Beta two", "Gamma three"]}
    with pytest.raises(GateRefused, match="how many items 'headings' has: keep 3"):
        answer_gate(parked.run_dir, GateDecision(action="edit", value={**edited, "headings": ["Only one"]}))
    with pytest.raises(GateRefused, match="waits at gate 'outline', not 'drafts'"):
        answer_gate(parked.run_dir, GateDecision(action="approve"), path="drafts")
    answer_gate(parked.run_dir, GateDecision(action="edit", value=edited), PaperOutline)
    assert pending_gate(parked.run_dir) is None

    again = SchemaModel()
    resumed = await Project.open(tmp_path, model=again).run("paper", run_dir=parked.run_dir, resume=True)
    assert resumed.result.status == "succeeded", resumed.result.error
    assert again.calls == []  # every model call was made before the run parked
    paper = json.loads((parked.run_dir / "outputs" / "paper.json").read_text())
    assert paper["title"] == edited["title"]
    body = [s["heading"] for s in paper["sections"] if s["role"] == "body"]
    assert body and set(body) <= set(edited["headings"])
    events = list(read_trace(parked.run_dir / "trace.jsonl"))
    decided = [e for e in events if isinstance(e, GateDecided)]
    assert [(e.step_id, e.action, e.value) for e in decided] == [("outline", "edit", edited)]
    with pytest.raises(GateRefused, match="waits at no review gate"):
        answer_gate(parked.run_dir, GateDecision(action="approve"))


async def test_the_drafts_gate_takes_a_persons_words_and_keeps_the_citations(tmp_path: Path) -> None:
    project = Project.open(tmp_path, model=SchemaModel())
    inputs = {"topic": "Nikola Tesla", "sections": 2}
    parked = await project.run("paper", inputs, corpus=[_corpus(tmp_path)], review=["drafts"])
    gate = pending_gate(parked.run_dir)
    assert parked.result.status == "waiting" and gate is not None and gate.path == "drafts"
    shown = PaperText.model_validate(gate.shown)
    assert shown.lead and shown.sections[0].sentences, shown
    assert not (parked.run_dir / "outputs" / "paper.md").exists()

    edited = shown.model_dump()
    edited["sections"][0]["heading"] = "What Tesla built"
    edited["sections"][0]["sentences"][0] = "Tesla, a person wrote here, built machines."
    removed = edited["lead"][0]
    edited["lead"][0] = ""
    one_more = {**edited, "lead": [*edited["lead"], "A sentence the draft never had."]}
    with pytest.raises(GateRefused, match="how many items 'lead' has"):
        answer_gate(parked.run_dir, GateDecision(action="edit", value=one_more), PaperText)
    answer_gate(parked.run_dir, GateDecision(action="edit", value=edited), PaperText)

    again = SchemaModel()
    resumed = await Project.open(tmp_path, model=again).run("paper", run_dir=parked.run_dir, resume=True)
    assert resumed.result.status == "succeeded", resumed.result.error
    assert again.calls == []
    paper = (parked.run_dir / "outputs" / "paper.md").read_text()
    assert "## What Tesla built" in paper and "Tesla, a person wrote here, built machines. [" in paper
    assert removed not in paper
    report = json.loads((parked.run_dir / "outputs" / "citations.json").read_text())
    marked = [s for s in report["sentences"] if s["edited"]]
    assert [s["text"] for s in marked] == ["Tesla, a person wrote here, built machines."]
    assert marked[0]["citations"]  # the person's sentence still cites the draft sentence's chunk
    assert "1 sentence edited and 1 removed" in " ".join(resumed.result.outputs["notes"])


async def test_an_optional_gate_nobody_opened_passes_its_value_through(tmp_path: Path) -> None:
    outcome = await Project.open(tmp_path, model=SchemaModel()).run(
        "paper", {"topic": "Nikola Tesla", "sections": 2}, corpus=[_corpus(tmp_path)]
    )
    assert outcome.result.status == "succeeded", outcome.result.error
    events = list(read_trace(outcome.run_dir / "trace.jsonl"))
    assert not [e for e in events if isinstance(e, GateOpened)]


PLAN = """\
name: plan_gate
inputs:
  topic: {type: string}
steps:
  plan:
    agent: planner
    prompt: >-
      Plan a paper on {{ inputs.topic }}.{% if review is defined %}
      Reviewer: {{ review.note }}{% endif %}
  check:
    review: "{{ steps.plan.output }}"
    shape: outline
    revise: plan
    rounds: 1
outputs:
  title: "{{ steps.check.output.title }}"
"""


def _outline(call: ModelCall) -> dict[str, object]:
    title = "Second plan" if "Reviewer:" in call.prompt else "First plan"
    section = {"heading": "Overview", "summary": "What it covers.", "questions": ["What is it, and why?"]}
    return {"title": title, "sections": [section] * 3}


async def test_a_rejection_sends_the_work_back_with_the_note_then_a_bounded_number_of_times(
    tmp_path: Path,
) -> None:
    workflow = tmp_path / "plan_gate.yaml"
    workflow.write_text(PLAN)
    asked: list[Gate] = []

    async def reviewer(gate: Gate) -> GateDecision:
        asked.append(gate)
        if gate.round == 1:
            return GateDecision(action="reject", note="make it about tides")
        return GateDecision(action="approve")

    model = FunctionModel(_outline)
    outcome = await Project.open(tmp_path, model=model).run(workflow, {"topic": "the sea"}, reviewer=reviewer)
    assert outcome.result.status == "succeeded", outcome.result.error
    assert outcome.result.outputs["title"] == "Second plan"
    assert [g.shown["title"] for g in asked] == ["First plan", "Second plan"]
    assert "Reviewer: make it about tides" in model.calls[-1].prompt and len(model.calls) == 2
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = OtelSink(provider.get_tracer("test"))
    for event in read_trace(outcome.run_dir / "trace.jsonl"):
        sink.handle(event)  # type: ignore[arg-type]
    check = next(s for s in exporter.get_finished_spans() if s.name == "step check")
    told = [(e.name, dict(e.attributes or {}).get("scriptorium.gate.action")) for e in check.events]
    assert told == [
        ("gate_opened", None),
        ("gate_decided", "reject"),
        ("gate_opened", None),
        ("gate_decided", "approve"),
    ]

    async def never_happy(gate: Gate) -> GateDecision:
        return GateDecision(action="reject", note="no")

    stubborn = await Project.open(tmp_path, model=FunctionModel(_outline)).run(
        workflow, {"topic": "the sea"}, reviewer=never_happy
    )
    assert stubborn.result.status == "failed" and "rejected at review: no" in (stubborn.result.error or "")


def test_the_cli_parks_without_a_terminal_then_review_records_an_edit_file(tmp_path: Path) -> None:
    workflow = tmp_path / "plan_gate.yaml"
    workflow.write_text(PLAN)
    project = Project.open(tmp_path, model=FunctionModel(_outline))
    import asyncio

    parked = asyncio.run(project.run(workflow, {"topic": "the sea"}))  # a non-optional gate, no reviewer
    assert parked.result.status == "waiting"
    runner = CliRunner()
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("title: [unclosed\n")
    bad = runner.invoke(app, ["review", str(parked.run_dir), "--edit", str(wrong)])
    assert bad.exit_code == 2 and f"{wrong}:2:1:" in "".join(bad.output.split()), bad.output
    assert "invalid YAML" in bad.output
    gate = pending_gate(parked.run_dir)
    assert gate is not None  # a wrong edit loses nothing: the gate still waits
    extra = {**gate.shown, "sections": [{**gate.shown["sections"][0], "x": 1}, *gate.shown["sections"][1:]]}
    wrong.write_text(yaml.safe_dump(extra, sort_keys=False))  # line 3 starts sections[0]
    field = runner.invoke(app, ["review", str(parked.run_dir), "--edit", str(wrong)])
    assert field.exit_code == 2 and "changes the fields of 'sections[0]'" in field.output, field.output
    assert "line 3)" in " ".join(field.output.split())
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(yaml.safe_dump({**gate.shown, "title": "Tides, edited"}))
    good = runner.invoke(app, ["review", str(parked.run_dir), "--edit", str(fixed)])
    assert good.exit_code == 0, good.output
    assert "scriptorium run --resume" in " ".join(good.output.split())
    again = runner.invoke(app, ["review", str(parked.run_dir), "--approve"])
    assert again.exit_code == 2 and "waits at no review gate" in again.output


CHECKED = Path(__file__).parents[1] / "data" / "workflows" / "checked_plan.yaml"


async def test_a_batch_parks_the_tasks_at_a_gate_while_the_others_finish(tmp_path: Path) -> None:
    from scriptorium.workflows.batch import BatchTask

    workflow = tmp_path / "checked_plan.yaml"
    workflow.write_text(CHECKED.read_text())
    tasks = [BatchTask(f"t{n}", {"topic": f"topic {n}", "check": n < 2}, None) for n in range(4)]
    model = FunctionModel(_outline)
    batch_dir = tmp_path / "batch"
    first = await Project.open(tmp_path, model=model).batch(workflow, tasks, batch_dir)
    assert [o.status for o in first] == ["waiting", "waiting", "succeeded", "succeeded"]
    assert len(model.calls) == 4
    answered = CliRunner().invoke(app, ["review", str(batch_dir), "--approve"])
    assert answered.exit_code == 0, answered.output
    assert answered.output.count("approve recorded") == 2
    again = FunctionModel(_outline)
    second = await Project.open(tmp_path, model=again).batch(workflow, tasks, batch_dir)
    assert [o.status for o in second] == ["succeeded"] * 4
    assert again.calls == []  # the parked tasks' plans were made before they parked


def test_a_spec_dumped_with_its_defaults_loads_again() -> None:
    """A Ray worker gets the workflow as JSON with every field: gate fields at their defaults are
    not gate fields."""
    from scriptorium.workflows.spec import WorkflowSpec

    spec = Project.open(Path.cwd()).workflow("paper").spec
    again = WorkflowSpec.model_validate(spec.model_dump(mode="json", by_alias=True))
    assert again == spec
