"""`scriptorium eval` on hand-made papers with known answers: real MiniLM, real Chroma on disk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.config import EvalSettings
from scriptorium.evaluation import EvaluationError, evaluate_paper, load_paper, load_reference
from scriptorium.evaluation.corpus import CorpusStores
from scriptorium.evaluation.reference import ReferenceOutline
from scriptorium.evaluation.scoring import PaperEval
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.text import split_sentences

from ..helpers import CORPUS

SOURCES = ["rag.md", "lora.md", "quantization.md"]


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("eval-memory")
    with MemoryStore(path, "eval", embedder=LocalEmbedder()) as store:
        store.ingest([CORPUS / name for name in SOURCES])
    return path


@pytest.fixture(scope="module")
def chunks(store_dir: Path, embedder: LocalEmbedder) -> dict[str, str]:
    with MemoryStore(store_dir, "eval", embedder=embedder) as store:
        return {f"{Path(name).stem}:0": _text(store, f"{Path(name).stem}:0") for name in SOURCES}


def _text(store: MemoryStore, key: str) -> str:
    hit = store.get(key)
    assert hit is not None
    return hit.text


def write_paper(
    run_dir: Path, store_dir: Path, sections: list[dict[str, Any]], chunks: dict[str, str]
) -> Path:
    (run_dir / "outputs").mkdir(parents=True)
    paper = {
        "format": 1,
        "title": "A test paper",
        "topic": "language models",
        "memory": {"path": str(store_dir), "collection": "eval"},
        "sections": sections,
        "evidence": {},
        "chunks": chunks,
    }
    (run_dir / "outputs" / "paper.json").write_text(json.dumps(paper))
    return run_dir


def copied_section(heading: str, key: str, chunk: str, n: int = 3) -> dict[str, Any]:
    body = " ".join(line for line in chunk.splitlines() if not line.startswith("#"))
    sentences = [s for s in split_sentences(body) if len(s.split()) >= 5][:n]
    return {"heading": heading, "paragraphs": [[{"text": s, "citations": [key]} for s in sentences]]}


def evaluate(run_dir: Path, embedder: LocalEmbedder, reference: ReferenceOutline | None = None) -> PaperEval:
    paper = load_paper(run_dir)
    with CorpusStores(embedder) as stores:
        return evaluate_paper(
            run_dir, embedder, stores.search_for(paper, run_dir), EvalSettings(), reference, paper
        )


def test_a_paper_copied_from_its_sources_is_grounded_cited_and_supported(
    tmp_path: Path, store_dir: Path, chunks: dict[str, str], embedder: LocalEmbedder
) -> None:
    sections = [copied_section(f"Part {i}", key, text) for i, (key, text) in enumerate(chunks.items())]
    result = evaluate(write_paper(tmp_path / "run", store_dir, sections, chunks), embedder)
    assert result.complete and result.sections_written == 3
    assert result.sentences == sum(len(s["paragraphs"][0]) for s in sections) >= 4
    assert result.grounded_share == 1.0
    assert result.cited_share == 1.0
    assert result.supported_share == 1.0
    assert result.dangling == [] and result.near_duplicates == []


def test_dangling_uncited_repeated_and_truncated_text_is_reported(
    tmp_path: Path, store_dir: Path, chunks: dict[str, str], embedder: LocalEmbedder
) -> None:
    good = copied_section("Retrieval", "rag:0", chunks["rag:0"], n=2)
    said = good["paragraphs"][0][0]["text"]
    bad = {
        "heading": "Odds and ends",
        "paragraphs": [
            [
                {
                    "text": "Penguins waddle across the frozen beaches of Antarctica every winter.",
                    "citations": ["ghost:3"],
                },
                {"text": said, "citations": []},
                {"text": "And the model then starts to", "citations": []},
            ]
        ],
    }
    result = evaluate(
        write_paper(tmp_path / "run", store_dir, [good, bad, {"heading": "Empty", "paragraphs": []}], chunks),
        embedder,
    )
    assert result.dangling == ["ghost:3"]
    assert result.empty_sections == ["Empty"] and result.truncated_sections == ["Odds and ends"]
    assert not result.complete
    assert result.cited_share == pytest.approx(2 / 5)  # the dangling key does not count as a citation
    assert any(u.sentence.startswith("Penguins") for u in result.ungrounded)
    assert [(d.first, d.same_section) for d in result.near_duplicates] == [(said, False)]


def test_a_generic_outline_scores_below_a_matching_one(
    tmp_path: Path, store_dir: Path, chunks: dict[str, str], embedder: LocalEmbedder
) -> None:
    reference = ReferenceOutline(
        sections=[
            "Retrieval-augmented generation",
            "Low-rank adaptation for fine-tuning",
            "Quantization of weights",
        ]
    )
    matching = [
        copied_section("Retrieval augmented generation", "rag:0", chunks["rag:0"]),
        copied_section("Fine-tuning with LoRA adapters", "lora:0", chunks["lora:0"]),
        copied_section("Quantizing model weights", "quantization:0", chunks["quantization:0"]),
    ]
    generic = [
        copied_section(heading, key, chunks[key])
        for heading, key in zip(("Introduction", "Background", "Conclusion"), chunks, strict=True)
    ]
    good = evaluate(write_paper(tmp_path / "good", store_dir, matching, chunks), embedder, reference)
    poor = evaluate(write_paper(tmp_path / "poor", store_dir, generic, chunks), embedder, reference)
    assert good.heading_soft_recall is not None and poor.heading_soft_recall is not None
    assert good.heading_soft_recall > 0.7 > poor.heading_soft_recall + 0.2
    assert [m.best_match for m in good.heading_matches] == [s["heading"] for s in matching]


def test_reference_outlines_in_markdown_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Title\n\nintro\n## One\n## Two\n")
    (tmp_path / "b.yaml").write_text("title: T\nsections: [One, {heading: Two}]\n")
    assert load_reference(tmp_path / "a.md") == ReferenceOutline(title="Title", sections=["One", "Two"])
    assert load_reference(tmp_path / "b.yaml").sections == ["One", "Two"]
    (tmp_path / "c.md").write_text("# Only a title\n")
    with pytest.raises(EvaluationError, match="no section headings"):
        load_reference(tmp_path / "c.md")
    (tmp_path / "d.yaml").write_text("sections: [One\n")
    with pytest.raises(EvaluationError, match="does not parse"):
        load_reference(tmp_path / "d.yaml")
    (tmp_path / "e.json").write_text('{"sections": [], "extra": 1}')
    with pytest.raises(EvaluationError, match="sections") as caught:
        load_reference(tmp_path / "e.json")
    assert "extra" in str(caught.value)


def test_unfit_run_folders_get_clear_errors(tmp_path: Path, store_dir: Path, embedder: LocalEmbedder) -> None:
    with pytest.raises(EvaluationError, match="not a folder"):
        load_paper(tmp_path / "missing")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "summary.json").write_text('{"workflow": "paper", "status": "failed"}')
    with pytest.raises(EvaluationError, match=r"no finished paper.*failed"):
        load_paper(unfinished)
    old = tmp_path / "old"
    (old / "outputs").mkdir(parents=True)
    (old / "outputs" / "paper.md").write_text("# Old\n")
    with pytest.raises(EvaluationError, match="older Scriptorium"):
        load_paper(old)
    future = tmp_path / "future"
    (future / "outputs").mkdir(parents=True)
    (future / "outputs" / "paper.json").write_text('{"format": 99}')
    with pytest.raises(EvaluationError, match="format 99"):
        load_paper(future)
    damaged = tmp_path / "damaged"
    (damaged / "outputs").mkdir(parents=True)
    (damaged / "outputs" / "paper.json").write_text(
        '{"format": 1, "title": "t", "topic": "t", "sections": [{}]}'
    )
    with pytest.raises(EvaluationError, match=r"damaged: sections\.0\.heading"):
        load_paper(damaged)
    with MemoryStore(tmp_path / "empty-memory", "eval", embedder=embedder):
        pass
    hollow = write_paper(
        tmp_path / "hollow", tmp_path / "empty-memory", [copied_section("x", "k", "A b c d e f.")], {}
    )
    with pytest.raises(EvaluationError, match="is empty"):
        evaluate(hollow, embedder)


def test_eval_paper_cli_reports_and_never_touches_the_run_folder(
    tmp_path: Path, store_dir: Path, chunks: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = write_paper(
        tmp_path / "run", store_dir, [copied_section("Retrieval", "rag:0", chunks["rag:0"])], chunks
    )
    (tmp_path / "ref.md").write_text("# R\n## Retrieval-augmented generation\n")
    before = _digest(run_dir)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["eval", "paper", str(run_dir), "--reference", str(tmp_path / "ref.md")])
    assert result.exit_code == 0, result.output
    assert "grounded" in result.output and "heading soft recall" in result.output
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["grounded_share"] == 1.0 and report["heading_soft_recall"] > 0.5
    assert _digest(run_dir) == before
    bad = CliRunner().invoke(app, ["eval", "paper", str(tmp_path / "nowhere")])
    assert bad.exit_code == 1 and "not a folder" in bad.output and "Traceback" not in bad.output


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(autouse=True)
def _quiet_chroma(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    yield
