"""Batch mode: task files checked up front; tasks concurrent, isolated and resumable (real server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.cli import app
from scriptorium.errors import ScriptoriumError
from scriptorium.events import RunStarted, read_trace
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.serving import Endpoint, ModelClient
from scriptorium.tools import default_registry
from scriptorium.workflows import LIBRARY_DIR, load_workflow
from scriptorium.workflows.batch import load_tasks, read_manifest, run_batch
from scriptorium.workflows.run_folder import read_batch_run_summary

from ..helpers import CORPUS

DATA = Path(__file__).parents[1] / "data" / "workflows"


@pytest.fixture(scope="module")
def parts() -> dict[str, Any]:
    tools, outputs = default_registry(plugins=False), default_outputs()
    return {"catalog": AgentCatalog.load(tools, outputs), "tools": tools, "outputs": outputs}


@pytest.fixture(scope="module")
def paper(parts: dict[str, Any]) -> Any:
    return load_workflow(LIBRARY_DIR / "paper.yaml", **parts).spec


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "t.jsonl",
            '{"topic": "LoRA"}\n{"topic": "RAG", \n{"topic": "vLLM"}\n',
            ["t.jsonl:2:", "invalid JSON"],
        ),
        ("t.jsonl", '{"topic": "LoRA"}\n{"sections": 3}\n', ["t.jsonl:2:", "missing required input 'topic'"]),
        ("t.csv", "topic,sectons\nLoRA,3\n", ["t.csv:1:", "unknown column 'sectons'"]),
        ("t.csv", "topic,sections\nLoRA,3\nRAG,many\n", ["t.csv:3:", "input 'sections'"]),
        (
            "t.yaml",
            "- topic: LoRA\n- topic: RAG\n  sections: 99\n",
            ["t.yaml:2:", "input 'sections'", "maximum"],
        ),
        ("t.yaml", "- {id: a, topic: LoRA}\n- {id: a, topic: RAG}\n", ["t.yaml:2:", "duplicate task id 'a'"]),
        ("t.yaml", "tasks: 3\n", ["expected a list of tasks"]),
        ("t.txt", "topic\n", ["task files are .yaml, .jsonl or .csv"]),
    ],
)
def test_malformed_task_files_are_reported_with_their_place(
    tmp_path: Path, paper: Any, name: str, text: str, expected: list[str]
) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ScriptoriumError) as caught:
        load_tasks(path, paper)
    message = str(caught.value)
    for fragment in expected:
        assert fragment in message, message


def test_good_task_files_in_all_three_formats(tmp_path: Path, paper: Any) -> None:
    (tmp_path / "t.yaml").write_text("- {id: lora, topic: LoRA, sections: 2}\n- topic: RAG\n")
    (tmp_path / "t.jsonl").write_text('{"id": "lora", "topic": "LoRA", "sections": 2}\n\n{"topic": "RAG"}\n')
    (tmp_path / "t.csv").write_text("id,topic,sections\nlora,LoRA,2\n,RAG,\n")
    loaded = [load_tasks(tmp_path / n, paper) for n in ("t.yaml", "t.jsonl", "t.csv")]
    for tasks in loaded:
        assert [t.id for t in tasks] == ["lora", "task-002"]
        assert tasks[0].inputs == {"topic": "LoRA", "sections": 2}
        assert tasks[1].inputs["sections"] == 4


@pytest.fixture
def memory(tmp_path: Path, embedder: LocalEmbedder) -> Iterator[MemoryStore]:
    with MemoryStore(tmp_path / "memory", "batch", embedder=embedder) as store:
        store.ingest([CORPUS / "rag.md", CORPUS / "lora.md"])
        yield store


@pytest.mark.server
async def test_a_batch_with_one_failing_task_finishes_the_others_and_resumes(
    endpoint: Endpoint, parts: dict[str, Any], memory: MemoryStore, tmp_path: Path
) -> None:
    loaded = load_workflow(DATA / "lookup.yaml", **parts)
    tasks_file = tmp_path / "tasks.jsonl"
    tasks_file.write_text(
        '{"id": "rag", "key": "rag:0"}\n{"id": "lora", "key": "lora:1"}\n{"id": "bad", "key": "nope:9"}\n'
    )
    tasks = load_tasks(tasks_file, loaded.spec)
    batch_dir = tmp_path / "batch"
    async with ModelClient(endpoint) as client:
        outcomes = await run_batch(
            loaded, tasks, batch_dir, client=client, memory=memory, concurrency=3, **parts
        )
    status = {o.id: o.status for o in outcomes}
    assert status == {"rag": "succeeded", "lora": "succeeded", "bad": "failed"}
    bad = next(o for o in outcomes if o.id == "bad")
    assert "nope:9" in (bad.error or "")
    summary = read_batch_run_summary(batch_dir)
    assert summary is not None and summary.succeeded == 2 and summary.failed == 1
    assert {r.id: r.status for r in summary.results} == status
    assert all((batch_dir / "tasks" / t / "outputs").is_dir() for t in ("rag", "lora", "bad"))

    workflow_path, again = read_manifest(batch_dir)
    assert workflow_path == (DATA / "lookup.yaml").resolve() and [t.id for t in again] == [
        "rag",
        "lora",
        "bad",
    ]
    async with ModelClient(endpoint) as client:
        resumed = await run_batch(
            loaded, again, batch_dir, client=client, memory=memory, concurrency=3, **parts
        )
    assert {o.id: o.status for o in resumed} == status

    def runs(task: str) -> int:
        return sum(isinstance(e, RunStarted) for e in read_trace(batch_dir / "tasks" / task / "trace.jsonl"))

    assert runs("rag") == 1 and runs("lora") == 1  # finished tasks were not run again
    assert runs("bad") == 2


@pytest.mark.server
async def test_eval_batch_measures_a_real_paper_batch(
    endpoint: Endpoint,
    parts: dict[str, Any],
    tmp_path: Path,
    embedder: LocalEmbedder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loaded = load_workflow(LIBRARY_DIR / "paper.yaml", **parts)
    tasks_file = tmp_path / "tasks.yaml"
    tasks_file.write_text(
        "- {id: rag, topic: retrieval-augmented generation, sections: 2}\n"
        "- {id: lora, topic: LoRA fine-tuning, sections: 2}\n"
    )
    batch_dir = tmp_path / "batch"
    with MemoryStore(tmp_path / "memory", "papers", embedder=embedder) as memory:
        memory.ingest(
            [CORPUS / "rag.md", CORPUS / "lora.md", CORPUS / "embeddings.md", CORPUS / "quantization.md"]
        )
        async with ModelClient(endpoint) as client:
            outcomes = await run_batch(
                loaded,
                load_tasks(tasks_file, loaded.spec),
                batch_dir,
                client=client,
                memory=memory,
                concurrency=2,
                **parts,
            )
    assert [o.status for o in outcomes] == ["succeeded", "succeeded"]
    references = tmp_path / "references"
    references.mkdir()
    (references / "rag.md").write_text(
        "# RAG\n## Retrieval-augmented generation\n## Retrieval and generation\n"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["eval", "batch", str(batch_dir), "--references", str(references)])
    assert result.exit_code == 0, result.output
    assert "paper quality" in result.output
    report = json.loads((tmp_path / "eval.json").read_text())
    summary = report["summary"]
    assert summary["papers"] == summary["evaluated"] == 2
    # The workflow guarantees these whatever the model writes: every kept sentence cites the chunk
    # of its evidence, states no fact that chunk lacks, is supported by it, and is said once.
    assert summary["dangling"] == 0 and summary["fact_errors"] == 0 and summary["invented"] == 0
    assert summary["cited_share"] == 1.0 and summary["repeated_share"] == 0
    papers = {t["task"]: t["paper"] for t in report["tasks"]}
    assert papers["rag"]["heading_soft_recall"] is not None and papers["lora"]["heading_soft_recall"] is None
    for paper in papers.values():
        assert 0 <= paper["grounded_share"] <= 1 and 0 <= paper["supported_share"] <= 1
        assert paper["sentences"] >= 2
