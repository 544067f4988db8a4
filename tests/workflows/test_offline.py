"""Workflow logic through `Project` on the model doubles of `scriptorium.testing`: no server.

What these prove is the runner's and the paper tools' behaviour (order, concurrency, resume, run
folder, structure of the paper), which does not depend on what a real model writes. What does
(the paper reads true, on the topic) is asserted against the real server in test_runs_real.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from scriptorium import Project
from scriptorium.events import ModelResponse, RunStarted, StepStarted, TokenDelta, read_trace
from scriptorium.memory import MemoryStore
from scriptorium.testing import FunctionModel, ModelCall, SchemaModel
from scriptorium.workflows import ResumeRefused

from ..helpers import CORPUS

DATA = Path(__file__).parents[1] / "data" / "workflows"
NEUTRAL = Path(__file__).parents[2] / "bench" / "quality" / "neutral" / "nikola-tesla"


def project(folder: Path, model: SchemaModel | FunctionModel) -> Project:
    return Project.open(folder, model=model)


async def test_a_small_workflow_leaves_a_complete_run_folder(tmp_path: Path) -> None:
    model = SchemaModel()
    outcome = await project(tmp_path, model).run(DATA / "brief.yaml", {"topic": "LoRA"}, corpus=[CORPUS])
    assert outcome.result.status == "succeeded", outcome.result.error
    run_dir = outcome.run_dir
    assert run_dir.parent == tmp_path / "runs"
    for name in ("workflow.yaml", "inputs.json", "checkpoint.sqlite", "trace.jsonl", "summary.json"):
        assert (run_dir / name).is_file(), name
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "succeeded" and set(summary["steps"]) == {"plan", "evidence", "write"}
    events = list(read_trace(run_dir / "trace.jsonl"))
    assert isinstance(events[0], RunStarted) and events[0].inputs == {"topic": "LoRA"}
    assert [e.step_id for e in events if isinstance(e, StepStarted)] == ["plan", "evidence", "write"]
    # The writer may cite exactly the keys memory_search put in its prompt: its schema's enum.
    write_call = model.calls[-1]
    keys = re.findall(r"^\[([^\]]+)\]", write_call.prompt, re.M)
    assert keys and write_call.schema is not None
    enums = re.findall(r'"enum": (\[[^\]]*\])', json.dumps(write_call.schema))
    assert enums and all(sorted(json.loads(e)) == sorted(keys) for e in enums)
    # Replies are streamed into the trace when one listens: the deltas spell each reply.
    replies = {e.request_id: e.text for e in events if isinstance(e, ModelResponse)}
    streamed: dict[str, str] = {}
    for event in events:
        if isinstance(event, TokenDelta):
            streamed[event.request_id] = streamed.get(event.request_id, "") + event.text
    assert streamed == replies and len(replies) == 2


async def test_map_items_are_in_flight_together(tmp_path: Path) -> None:
    timeline: list[str] = []

    async def slow(call: ModelCall) -> dict[str, object]:
        timeline.append("asked")
        await asyncio.sleep(0.2)
        timeline.append("answered")
        topic = call.prompt.removeprefix("Plan a short paper on ").rstrip(".")
        section = {"heading": "Overview", "summary": "What it is.", "questions": ["What is it, and why?"]}
        return {"title": f"A paper on {topic}", "sections": [section] * 3}

    fanout = project(tmp_path, FunctionModel(slow))
    outcome = await fanout.run(DATA / "fanout.yaml", {"topics": ["a", "b", "c"]})
    assert outcome.result.status == "succeeded", outcome.result.error
    assert outcome.result.outputs["titles"] == ["A paper on a", "A paper on b", "A paper on c"]
    assert timeline == ["asked"] * 3 + ["answered"] * 3  # all three in flight before any answer


async def test_resume_repeats_no_finished_step(tmp_path: Path) -> None:
    model = SchemaModel()
    first = await project(tmp_path, model).run(DATA / "brief.yaml", {"topic": "vLLM"}, corpus=[CORPUS])
    assert first.result.status == "succeeded"
    assert len(model.calls) == 2  # planner, writer
    with sqlite3.connect(first.run_dir / "checkpoint.sqlite") as db:  # as if killed before 'write' ended
        db.execute("DELETE FROM steps WHERE path = 'write'")
    again = SchemaModel()
    second = await project(tmp_path, again).run(DATA / "brief.yaml", run_dir=first.run_dir, resume=True)
    assert second.result.status == "succeeded" and second.inputs == {"topic": "vLLM"}
    assert len(again.calls) == 1 and "Write the section" in again.calls[0].prompt
    assert second.result.steps["plan"].status == "cached"


async def test_resume_after_the_workflow_changed_is_refused_unless_forced(tmp_path: Path) -> None:
    workflow = tmp_path / "brief.yaml"
    shutil.copy(DATA / "brief.yaml", workflow)
    brief = project(tmp_path, SchemaModel())
    first = await brief.run(workflow, {"topic": "RAG"}, corpus=[CORPUS])
    workflow.write_text(workflow.read_text().replace("k: 3", "k: 2"))
    with pytest.raises(ResumeRefused, match="--force"):
        await brief.run(workflow, run_dir=first.run_dir, resume=True)
    forced = await brief.run(workflow, run_dir=first.run_dir, resume=True, force=True)
    assert forced.result.status == "succeeded"


async def test_events_come_as_the_run_goes(tmp_path: Path) -> None:
    events = project(tmp_path, SchemaModel()).events(DATA / "fanout.yaml", {"topics": ["x"]})
    kinds = [type(e).__name__ async for e in events]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    assert kinds.count("ModelRequest") == 1 and "StepFinished" in kinds


async def test_the_paper_workflow_runs_whole_on_the_schema_model(tmp_path: Path) -> None:
    """Every step of the paper, offline: the schema model's sentences are runs of the prompt's
    words, which the checks mostly reject, so the paper leans on marked quotations; its structure,
    references and files are still the workflow's."""
    corpus = tmp_path / "notes"
    shutil.copytree(NEUTRAL / "sources", corpus)
    model = SchemaModel()
    outcome = await project(tmp_path, model).run(
        "paper", {"topic": "Nikola Tesla", "sections": 3}, corpus=[corpus]
    )
    assert outcome.result.status == "succeeded", outcome.result.error
    paper = json.loads((outcome.run_dir / "outputs" / "paper.json").read_text())
    assert paper["title"] == "Nikola Tesla"  # a title of prompt words names no topic: the fallback
    assert paper["lead"] and [s["role"] for s in paper["sections"]].count("body") >= 1
    keys = {c for s in paper["sections"] for p in s["paragraphs"] for x in p for c in x["citations"]}
    assert keys and keys <= set(paper["chunks"])  # no dangling citation
    for path in (outcome.run_dir / "outputs").iterdir():
        assert str(tmp_path) not in path.read_text(), path.name  # no absolute path of this machine
    agents = {c.messages[0]["content"][:40] for c in model.calls}
    assert len(agents) == 2  # the titler and the restater, and nothing else called the model


async def test_the_briefing_workflow_answers_each_question_from_its_own_passages(tmp_path: Path) -> None:
    model = SchemaModel()
    questions = ["What is LoRA?", "How is vLLM served?"]
    briefing = project(tmp_path, model)
    outcome = await briefing.run(
        "briefing", {"topic": "fine-tuning small models", "questions": questions}, corpus=[CORPUS]
    )
    assert outcome.result.status == "succeeded", outcome.result.error
    assert outcome.result.outputs == {"questions": 2, "sentences": 4, "page": "briefing.md"}
    assert len(model.calls) == 4  # one call per question and passage, nothing else
    page = (outcome.run_dir / "briefing.md").read_text()
    rows = re.split(r"^## ", page, flags=re.M)[1:]
    assert [row.splitlines()[0] for row in rows] == questions
    with MemoryStore(tmp_path / ".scriptorium" / "memory", briefing.settings.memory_collection) as store:
        for question, row in zip(questions, rows, strict=True):
            cited = re.findall(r"\[([^\]]+)\]", row)
            shown = [c.prompt for c in model.calls if f"Question: {question}" in c.prompt]
            assert len(cited) == len(shown) == 2
            for key in cited:  # each cell cites a passage its own question's calls were shown
                hit = store.get(key)
                assert hit is not None and any(hit.text[:200] in prompt for prompt in shown), key
