"""`eval paper --judge`: Ragas through a real OpenAI-compatible endpoint (the session's vLLM server,
behind a counting proxy). The bundled model is no capable judge, so these tests check the plumbing and
the accounting (scores in range or counted unjudged), not the verdicts; the session-wide guard fails
any test that opens a connection beyond loopback, Ragas' analytics included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scriptorium.cli import app
from scriptorium.evaluation import load_paper
from scriptorium.evaluation.judge import JUDGE_METRICS, judge_paper
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.serving import ServerState

from ..helpers import CORPUS
from ..serving.proxy import FaultyProxy

pytestmark = pytest.mark.server

RECORDED_RUN = Path(__file__).parents[1] / "data" / "runs" / "paper"


async def test_judge_scores_every_section_through_the_endpoint(
    managed_server: ServerState, embedder: LocalEmbedder
) -> None:
    paper = load_paper(RECORDED_RUN)
    proxy = FaultyProxy(managed_server.base_url.removesuffix("/v1"))
    with proxy.serving() as url:
        report = await judge_paper(
            paper,
            base_url=url,
            api_key=managed_server.api_key,
            model=managed_server.model,
            embedder=embedder,
            request_timeout=60,
        )
    written = [section for section in paper.sections if section.paragraphs]
    assert [sample.section for sample in report.samples] == [section.heading for section in written]
    assert proxy.requests >= len(report.samples)  # every sample went to the judge
    for sample in report.samples:
        assert set(sample.scores) == set(JUDGE_METRICS)
        for name, score in sample.scores.items():
            assert (score is None) == (name in sample.errors)
            assert score is None or 0.0 <= score <= 1.0
    for name in JUDGE_METRICS:
        judged = [s.scores[name] for s in report.samples if s.scores[name] is not None]
        assert report.judged[name] == len(judged)
        assert (report.means[name] is None) == (not judged)


def test_cli_judge_adds_a_judge_section_and_an_unreachable_judge_is_named(
    managed_server: ServerState, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: LocalEmbedder
) -> None:
    run = tmp_path / "run"
    shutil.copytree(RECORDED_RUN, run)
    # The recorded run's memory is gone with the machine it was made on: point it at a fresh one.
    with MemoryStore(tmp_path / "memory", "judge", embedder=embedder) as store:
        store.ingest([CORPUS / "rag.md", CORPUS / "vllm.md"])
    paper_json = run / "outputs" / "paper.json"
    data = json.loads(paper_json.read_text())
    data["memory"] = {"path": str(tmp_path / "memory"), "collection": "judge"}
    paper_json.write_text(json.dumps(data))
    monkeypatch.setenv("SCRIPTORIUM_EVAL__JUDGE_API_KEY", managed_server.api_key.get_secret_value())
    out = tmp_path / "eval.json"
    args = ["eval", "paper", str(run), "--judge", managed_server.base_url, "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["judge"]["model"] == managed_server.model
    assert set(report["judge"]["means"]) == set(JUDGE_METRICS)
    assert "sections judged" in result.output

    dead = CliRunner().invoke(app, ["eval", "paper", str(run), "--judge", "http://127.0.0.1:9/v1"])
    assert dead.exit_code == 1
    assert "the judge at http://127.0.0.1:9/v1 did not list its models" in " ".join(dead.output.split())
