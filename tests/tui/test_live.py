"""`run --tui`: the workflow runs as a worker of the real app, against the real server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Tree

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.serving import Endpoint, ModelClient
from scriptorium.tools import default_registry
from scriptorium.tui import LiveSource, RunView, ScriptoriumTUI
from scriptorium.workflows import RunOutcome, load_workflow, new_run_dir, run_workflow

from ..helpers import CORPUS

pytestmark = pytest.mark.server
BRIEF = Path(__file__).parents[1] / "data" / "workflows" / "brief.yaml"


async def test_a_live_run_fills_the_tree_and_ends_with_its_output(
    endpoint: Endpoint, tmp_path: Path, embedder: LocalEmbedder
) -> None:
    tools, outputs = default_registry(plugins=False), default_outputs()
    parts: dict[str, Any] = {"catalog": AgentCatalog.load(tools, outputs), "tools": tools, "outputs": outputs}
    loaded = load_workflow(BRIEF, **parts)
    run_dir = new_run_dir(tmp_path / "runs", "brief")
    live = LiveSource()

    async def work() -> RunOutcome:
        with MemoryStore(tmp_path / "memory", "live", embedder=embedder) as memory:
            memory.ingest([CORPUS / "vllm.md"])
            async with ModelClient(endpoint) as client:
                return await run_workflow(
                    loaded,
                    run_dir,
                    client=client,
                    memory=memory,
                    inputs={"topic": "vLLM"},
                    sinks=[live],
                    **parts,
                )

    app = ScriptoriumTUI(run_dir, live=live, work=work)
    async with app.run_test(size=(160, 40)) as pilot:
        for _ in range(600):  # the run takes seconds; the loop bounds the wait at a minute
            if isinstance(app.result, RunOutcome):
                break
            await asyncio.sleep(0.1)
        await pilot.pause(0.3)
        assert isinstance(app.result, RunOutcome) and app.result.result.status == "succeeded"
        view = app.screen
        assert isinstance(view, RunView)
        assert view.state.status == "succeeded" and view.state.workflow == "brief"
        labels = [str(node.label) for node in view.query_one("#steps", Tree).root.children]
        assert [label.split()[1] for label in labels] == ["plan", "evidence", "write"]
        assert all(label.startswith("✓") for label in labels)
        assert view.state.tokens_by_agent["writer"] > 0 and not view.state.in_flight
