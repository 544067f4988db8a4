"""A finished run opened in a real Arize Phoenix: Phoenix started on loopback (from the venv
`scripts/setup.sh --phoenix` makes), the run sent with `scriptorium trace export`, and the spans read
back through Phoenix's own client: the run as one tree, with the kinds, prompts, token counts and
retrieved documents Phoenix draws."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import platformdirs
import pytest
from typer.testing import CliRunner

from scriptorium import Project
from scriptorium.cli import app
from scriptorium.events import MemoryQuery, ModelRequest, StepStarted, ToolCall, read_trace
from scriptorium.testing import SchemaModel

from ..conftest import free_port
from ..helpers import CORPUS

BRIEF = Path(__file__).parents[1] / "data" / "workflows" / "brief.yaml"
PHOENIX_VENV = (
    Path(os.environ.get("SCRIPTORIUM_DATA_DIR") or platformdirs.user_data_dir("scriptorium")) / "phoenix-venv"
)
READ_SPANS = """
import json, sys
from phoenix.client import Client
spans = Client(base_url=sys.argv[1]).spans.get_spans(project_identifier="default", limit=5000)
print(json.dumps(spans, default=str))
"""


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    python = PHOENIX_VENV / "bin" / "python"
    if not python.is_file():
        pytest.fail(
            f"no Phoenix venv at {PHOENIX_VENV}: run `scripts/setup.sh --phoenix` (scripts/test.sh does)"
        )
    port, grpc = free_port(), free_port()
    env = {
        **os.environ,
        "PHOENIX_WORKING_DIR": str(tmp_path_factory.mktemp("phoenix")),
        "PHOENIX_HOST": "127.0.0.1",
        "PHOENIX_PORT": str(port),
        "PHOENIX_GRPC_PORT": str(grpc),
        "PHOENIX_TELEMETRY_ENABLED": "false",
    }
    log = tmp_path_factory.mktemp("phoenix-log") / "phoenix.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(python), "-m", "phoenix.server.main", "serve"], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Phoenix did not start:\n" + log.read_text()[-3000:])
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def read_spans(url: str, expected: int) -> list[dict[str, Any]]:
    """What Phoenix holds, once it holds `expected` spans or 30 s have passed (it stores what it
    receives in the background)."""
    python = PHOENIX_VENV / "bin" / "python"
    deadline = time.monotonic() + 30
    while True:
        done = subprocess.run(
            [str(python), "-c", READ_SPANS, url], capture_output=True, text=True, check=True
        )
        spans: list[dict[str, Any]] = json.loads(done.stdout)
        if len(spans) >= expected or time.monotonic() > deadline:
            return spans
        time.sleep(0.5)


async def test_a_run_exported_to_phoenix_reads_back_as_one_tree_with_prompts_and_documents(
    phoenix: str, tmp_path: Path
) -> None:
    # A run made here (the workflow's logic on a model double: real memory, real trace).
    outcome = await Project.open(tmp_path, model=SchemaModel()).run(BRIEF, {"topic": "LoRA"}, corpus=[CORPUS])
    assert outcome.result.status == "succeeded", outcome.result.error
    run = outcome.run_dir
    result = CliRunner().invoke(app, ["trace", "export", str(run), "--endpoint", phoenix])
    assert result.exit_code == 0, result.output
    events = list(read_trace(run / "trace.jsonl"))
    expected = 1 + sum(isinstance(e, StepStarted | ModelRequest | ToolCall | MemoryQuery) for e in events)
    spans = await asyncio.to_thread(read_spans, phoenix, expected)
    assert len(spans) == expected
    by_id = {s["context"]["span_id"]: s for s in spans}
    roots = [s for s in spans if not s.get("parent_id")]
    assert [r["name"] for r in roots] == ["workflow brief"]  # one run, one tree
    assert all(s["parent_id"] in by_id for s in spans if s.get("parent_id"))
    assert len({s["context"]["trace_id"] for s in spans}) == 1
    kinds = {s["span_kind"] for s in spans}
    assert kinds == {"CHAIN", "LLM", "TOOL", "RETRIEVER"}
    llm = next(s for s in spans if s["span_kind"] == "LLM")
    attributes = llm["attributes"]
    assert attributes["llm.token_count.completion"] > 0
    assert any(k.startswith("llm.input_messages.") for k in attributes)
    retriever = next(s for s in spans if s["span_kind"] == "RETRIEVER")
    assert retriever["attributes"]["retrieval.documents.0.document.content"].strip()
    assert isinstance(retriever["attributes"]["retrieval.documents.0.document.score"], float)
    assert by_id[retriever["parent_id"]]["span_kind"] in {"CHAIN", "TOOL"}  # under the step that searched
