"""Workflows end to end on the real server, with real memory, checkpoints and trace files: what
needs the real model (a server dying mid-run, the paper it writes). The runner's logic (order,
concurrency, resume, the run folder) is tested on a model double in test_offline.py."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scriptorium import Project
from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.config import ClientSettings
from scriptorium.events import (
    Event,
    ModelRequest,
    RunStarted,
    StepFinished,
    read_trace,
)
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.paper.checks import missing_facts
from scriptorium.serving import Endpoint, ModelClient
from scriptorium.serving.shipped import shipped_provenance
from scriptorium.tools import default_registry
from scriptorium.workflows import (
    LIBRARY_DIR,
    RunOutcome,
    load_workflow,
    new_run_dir,
    run_workflow,
)

from ..helpers import CORPUS
from ..serving.proxy import FaultyProxy

pytestmark = pytest.mark.server
DATA = Path(__file__).parents[1] / "data" / "workflows"
NEUTRAL = Path(__file__).parents[2] / "bench" / "quality" / "neutral" / "nikola-tesla"


@pytest.fixture(scope="module")
def parts() -> dict[str, Any]:
    tools, outputs = default_registry(plugins=False), default_outputs()
    return {"catalog": AgentCatalog.load(tools, outputs), "tools": tools, "outputs": outputs}


@pytest.fixture
def memory(tmp_path: Path, embedder: LocalEmbedder) -> Iterator[MemoryStore]:
    with MemoryStore(tmp_path / "memory", "wf", embedder=embedder) as store:
        store.ingest([CORPUS])
        yield store


async def execute(
    path: Path,
    run_dir: Path,
    endpoint: Endpoint,
    parts: dict[str, Any],
    memory: MemoryStore | None,
    inputs: dict[str, Any] | None = None,
    **options: Any,
) -> RunOutcome:
    loaded = load_workflow(path, **parts)
    async with ModelClient(endpoint) as client:
        return await run_workflow(
            loaded, run_dir, client=client, memory=memory, inputs=inputs, **parts, **options
        )


def trace(run_dir: Path) -> list[Any]:
    return list(read_trace(run_dir / "trace.jsonl"))


async def test_a_server_dying_mid_run_fails_the_step_clearly_and_resume_completes(
    endpoint: Endpoint, parts: dict[str, Any], memory: MemoryStore, tmp_path: Path
) -> None:
    # The real server behind a loopback proxy that goes dead (drops every connection unanswered)
    # the moment the plan is checkpointed, and comes back before the resume.
    proxy = FaultyProxy(endpoint.base_url.removesuffix("/v1"))

    class KillAfterPlan:
        def handle(self, event: Event) -> None:
            if isinstance(event, StepFinished) and event.step_id == "plan":
                proxy.down = True

    run_dir = new_run_dir(tmp_path / "runs", "brief")
    loaded = load_workflow(DATA / "brief.yaml", **parts)
    with proxy.serving() as url:
        behind_proxy = Endpoint(url, endpoint.api_key, endpoint.model)
        retrying = ClientSettings(max_retries=2, backoff_base=0.05)
        async with ModelClient(behind_proxy, retrying) as client:
            first = await run_workflow(
                loaded,
                run_dir,
                client=client,
                memory=memory,
                inputs={"topic": "vLLM"},
                sinks=[KillAfterPlan()],
                **parts,
            )
        assert first.result.status == "failed"
        assert first.result.steps["plan"].status == "succeeded"
        write = first.result.steps["write"]
        assert write.status == "failed" and write.error is not None
        assert f"cannot connect to {url}" in write.error
        assert proxy.dropped == 3  # the first try and both retries
        proxy.down = False
        async with ModelClient(behind_proxy, retrying) as client:
            second = await run_workflow(loaded, run_dir, client=client, memory=memory, resume=True, **parts)
    assert second.result.status == "succeeded"
    assert second.result.steps["plan"].status == "cached"
    events = trace(run_dir)
    resumed_at = max(i for i, e in enumerate(events) if isinstance(e, RunStarted))
    assert {e.agent for e in events[resumed_at:] if isinstance(e, ModelRequest)} == {"writer"}
    assert second.result.outputs["heading"]


async def test_the_paper_workflow_writes_a_structured_cited_paper_from_untitled_notes(
    endpoint: Endpoint, parts: dict[str, Any], tmp_path: Path, embedder: LocalEmbedder
) -> None:
    # A neutral-titled corpus ("<topic>: source N", no headings): the outline has to come from
    # what the sources say.
    with MemoryStore(tmp_path / "memory", "neutral", embedder=embedder) as memory:
        memory.ingest([NEUTRAL / "sources"])
        run_dir = new_run_dir(tmp_path / "runs", "paper")
        outcome = await execute(
            LIBRARY_DIR / "paper.yaml",
            run_dir,
            endpoint,
            parts,
            memory,
            {"topic": "Nikola Tesla", "sections": 3},
        )
        result = outcome.result
        assert result.status == "succeeded", result.error
        written = json.loads((run_dir / "outputs" / "paper.json").read_text())
        # Structure: a title naming the topic that is no heading, body sections (never a source
        # title), a closing; the run says so when fewer sections than asked were written.
        headings = [s["heading"] for s in written["sections"]]
        assert "tesla" in written["title"].lower() and written["title"] not in headings
        body = [s for s in written["sections"] if s["role"] == "body"]
        assert body and not any("source" in h.lower() for h in headings)
        assert len(body) == 3 or result.outputs["notes"]
        # Every sentence cites a chunk that exists, and says no name or number its chunk lacks.
        sentences = [*written["lead"], *(x for s in written["sections"] for p in s["paragraphs"] for x in p)]
        assert sentences and all(x["citations"] for x in sentences)
        for sentence in sentences:
            for key in sentence["citations"]:
                assert memory.get(key) is not None
                if not sentence["quote"]:
                    assert not missing_facts(sentence["text"], written["chunks"][key])
        texts = [x["text"] for x in sentences]
        assert len(set(texts)) == len(texts)
    # At the defaults every request goes to the shipped paper adapter (merged into the base).
    requests = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    models = {r["model"] for r in requests if r["kind"] == "model_request"}
    assert models == {endpoint.model} and endpoint.model.endswith(f"-{shipped_provenance().name}")
    # References: one per document, by its path within the corpus folder; no absolute path in any
    # output file.
    references = json.loads((run_dir / "outputs" / "references.json").read_text())
    assert len({r["location"] for r in references}) == len(references) == result.outputs["references"]
    assert all(r["location"].startswith("source-") for r in references)
    for path in (run_dir / "outputs").iterdir():
        text = path.read_text()
        assert str(tmp_path) not in text and str(NEUTRAL.parents[3]) not in text, path.name
    paper = (run_dir / "outputs" / "paper.md").read_text()
    assert paper.startswith(f"# {written['title']}\n") and "## References" in paper
    assert all(f"[{r['n']}]" in paper for r in references)


async def test_the_briefing_answers_each_question_from_the_passage_it_cites(
    endpoint: Endpoint, tmp_path: Path, embedder: LocalEmbedder
) -> None:
    """The second shipped workflow (YAML only) on the real model: every sentence stays close to the
    passage it cites (the model answers from it rather than from its own knowledge)."""
    project = Project.open(tmp_path, endpoint=endpoint)
    questions = ["What is LoRA?", "How does vLLM serve many requests?"]
    outcome = await project.run(
        "briefing", {"topic": "serving and fine-tuning models", "questions": questions}, corpus=[CORPUS]
    )
    assert outcome.result.status == "succeeded", outcome.result.error
    assert outcome.result.outputs["sentences"] == 4  # two passages per question
    page = (outcome.run_dir / "briefing.md").read_text()
    cells = re.findall(r"(\S[^\[\]]*?) \[([^\]]+)\]", page)
    assert len(cells) == 4
    with MemoryStore(tmp_path / ".scriptorium" / "memory", project.settings.memory_collection) as store:
        passages = {key: store.get(key) for _, key in cells}
    closeness = []
    for sentence, key in cells:
        hit = passages[key]
        assert hit is not None, key
        vectors = embedder.embed([sentence, hit.text])
        closeness.append(float(vectors[0] @ vectors[1]))
    assert min(closeness) >= 0.35 and sorted(closeness)[len(closeness) // 2] >= 0.5, closeness


async def test_a_paper_without_sources_fails_loudly(
    endpoint: Endpoint, parts: dict[str, Any], tmp_path: Path, embedder: LocalEmbedder
) -> None:
    with MemoryStore(tmp_path / "empty", "empty", embedder=embedder) as empty:
        run_dir = new_run_dir(tmp_path / "runs", "paper")
        outcome = await execute(
            LIBRARY_DIR / "paper.yaml", run_dir, endpoint, parts, empty, {"topic": "LoRA", "sections": 2}
        )
    assert outcome.result.status == "failed"
    assert "holds no evidence on 'LoRA'" in (outcome.result.error or "")
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "failed"
