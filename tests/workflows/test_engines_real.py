"""The same workflow on both engines against the real server: same steps, outputs valid against the
same schemas, the same trace; an imported CrewAI project runs; a resumed run keeps its engine."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scriptorium.agents import AgentCatalog, OutputContext, default_outputs
from scriptorium.agents.engine import ENGINES
from scriptorium.events import ModelRequest, ModelResponse, StepStarted, TokenDelta, read_trace
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.serving import Endpoint, ModelClient
from scriptorium.tools import default_registry
from scriptorium.workflows import load_workflow, new_run_dir, run_workflow
from scriptorium.workflows.checkpoint import Checkpoint
from scriptorium.workflows.crewai_project import import_crewai

from ..helpers import CORPUS

pytestmark = pytest.mark.server
DATA = Path(__file__).parents[1] / "data"


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryStore]:
    with MemoryStore(tmp_path_factory.mktemp("engines") / "memory", "eng", embedder=LocalEmbedder()) as store:
        store.ingest([CORPUS])
        yield store


def parts(project: Path | None = None) -> dict[str, Any]:
    tools, outputs = default_registry(plugins=False), default_outputs()
    dirs = [project / "agents"] if project else []
    return {"catalog": AgentCatalog.load(tools, outputs, dirs), "tools": tools, "outputs": outputs}


@pytest.mark.parametrize("engine", ENGINES)
async def test_the_brief_workflow_gives_schema_valid_outputs_on_each_engine(
    engine: str, endpoint: Endpoint, memory: MemoryStore, tmp_path: Path
) -> None:
    given = parts()
    loaded = load_workflow(DATA / "workflows" / "brief.yaml", **given)
    run_dir = new_run_dir(tmp_path / "runs", "brief")
    async with ModelClient(endpoint) as client:
        outcome = await run_workflow(
            loaded, run_dir, client=client, memory=memory, inputs={"topic": "LoRA"}, engine=engine, **given
        )
    assert outcome.result.status == "succeeded", outcome.result.error
    assert json.loads((run_dir / "summary.json").read_text())["engine"] == engine
    done = Checkpoint(run_dir / "checkpoint.sqlite").finished()
    outputs = given["outputs"]
    outputs.resolve("outline", OutputContext()).model_validate(done["plan"].output)
    keys = tuple(p["key"] for p in done["evidence"].output["passages"])
    section = outputs.resolve("section", OutputContext(citation_keys=keys)).model_validate(
        done["write"].output
    )
    assert {s.cite for s in section.sentences} <= set(keys)
    events = list(read_trace(run_dir / "trace.jsonl"))
    assert [e.step_id for e in events if isinstance(e, StepStarted)] == ["plan", "evidence", "write"]
    by_agent = {e.agent for e in events if isinstance(e, ModelRequest)} - {"endpoint-probe"}
    assert by_agent == {"planner", "writer"}  # calls made on CrewAI's threads keep their agent
    replies = {e.request_id for e in events if isinstance(e, ModelResponse) and e.agent == "writer"}
    assert replies & {e.request_id for e in events if isinstance(e, TokenDelta)}  # streamed to the TUI


async def test_a_resumed_run_keeps_the_engine_it_started_with(
    endpoint: Endpoint, memory: MemoryStore, tmp_path: Path
) -> None:
    given = parts()
    loaded = load_workflow(DATA / "workflows" / "lookup.yaml", **given)
    key = memory.query("LoRA low-rank adapters", k=1)[0].key
    run_dir = new_run_dir(tmp_path / "runs", "lookup")
    async with ModelClient(endpoint) as client:
        first = await run_workflow(
            loaded, run_dir, client=client, memory=memory, inputs={"key": key}, engine="crewai", **given
        )
        assert first.result.status == "succeeded", first.result.error
        with sqlite3.connect(run_dir / "checkpoint.sqlite") as db:
            db.execute("DELETE FROM steps WHERE path = 'write'")
        second = await run_workflow(loaded, run_dir, client=client, memory=memory, resume=True, **given)
    assert second.result.status == "succeeded"
    assert json.loads((run_dir / "summary.json").read_text())["engine"] == "crewai"


@pytest.mark.parametrize("engine", ENGINES)
async def test_an_imported_crewai_project_validates_and_runs(
    engine: str, endpoint: Endpoint, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    shutil.copytree(DATA / "crewai_project", tmp_path / "crew")
    translation = import_crewai(tmp_path / "crew", project, name="research")
    given = parts(project)
    loaded = load_workflow(project / "workflows" / "research.yaml", **given)
    assert list(loaded.spec.steps) == ["research_task", "reporting_task", "save_reporting_task"]
    assert any("human_input" in note for note in translation.notes)
    run_dir = new_run_dir(tmp_path / "runs", "research")
    async with ModelClient(endpoint) as client:
        outcome = await run_workflow(
            loaded, run_dir, client=client, memory=None, inputs={"topic": "LoRA"}, engine=engine, **given
        )
    assert outcome.result.status == "succeeded", outcome.result.error
    report = (run_dir / "outputs" / "report.md").read_text()
    assert report.strip() and report == outcome.result.outputs["result"]
    events = list(read_trace(run_dir / "trace.jsonl"))
    research = [e for e in events if isinstance(e, ModelRequest) and e.agent == "researcher"]
    analyst = [e for e in events if isinstance(e, ModelRequest) and e.agent == "reporting_analyst"]
    assert research and analyst
    # CrewAI's {topic} reached the agents' roles, and the first task's answer the second's prompt.
    assert "LoRA Senior Data Researcher" in json.dumps(research[0].messages)
    first_answer = outcome.result.outputs["research_task"].strip()[:40]
    assert any(first_answer in m["content"] for m in analyst[0].messages)
