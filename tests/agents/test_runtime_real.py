"""Agents on the real vLLM server with the bundled model, real Chroma memory and the real registry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from autogen_core import CancellationToken
from autogen_core.models import SystemMessage, UserMessage

from scriptorium.agents import AgentCatalog, AgentSpec, default_outputs
from scriptorium.agents.autogen_adapter import RegistryTool, ScriptoriumChatClient
from scriptorium.agents.engine import ENGINES, AgentEngine, make_engine
from scriptorium.agents.model_calls import AgentModelCalls
from scriptorium.agents.outputs import Outline, SearchPlan
from scriptorium.agents.runtime import ModelNotServed
from scriptorium.events import EventBus, ModelRequest, ToolCall
from scriptorium.memory import LocalEmbedder, MemoryStore
from scriptorium.serving import Endpoint, ModelClient
from scriptorium.serving.probe import probe
from scriptorium.tools import ToolContext, default_registry

from ..helpers import CORPUS

pytestmark = pytest.mark.server

TOPIC = "retrieval-augmented generation"


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MemoryStore]:
    with MemoryStore(
        tmp_path_factory.mktemp("agents") / "memory", "agents", embedder=LocalEmbedder()
    ) as store:
        store.ingest([CORPUS])
        yield store


@pytest.fixture(scope="module")
def catalog() -> AgentCatalog:
    return AgentCatalog.load(default_registry(plugins=False), default_outputs())


@pytest.fixture(params=ENGINES)
async def runtime(
    request: pytest.FixtureRequest, endpoint: Endpoint, memory: MemoryStore, tmp_path: Path
) -> AsyncIterator[AgentEngine]:
    """Each agent test runs on every engine: the answers must validate against the same schemas."""
    async with ModelClient(endpoint) as client:
        yield make_engine(
            request.param,
            client,
            tools=default_registry(plugins=False),
            outputs=default_outputs(),
            context=ToolContext(memory=memory, run_dir=tmp_path),
        )


class Collect:
    def __init__(self) -> None:
        self.events: list[object] = []

    def handle(self, event: object) -> None:
        self.events.append(event)


async def test_probe_finds_schema_output_but_no_native_tool_calls(client: ModelClient) -> None:
    profile = await probe(client, refresh=True)
    assert profile.json_schema is True
    assert profile.tool_calls is False  # the bundled model on vLLM, as DESIGN.md records
    assert client.endpoint.model in profile.models
    assert profile.context_length == 4096


async def test_planner_returns_a_valid_outline(runtime: AgentEngine, catalog: AgentCatalog) -> None:
    sink = Collect()
    with EventBus("r", [sink]).active():
        result = await runtime.run(catalog.get("planner"), f"Plan a short paper on {TOPIC}.")
    assert isinstance(result.output, Outline)
    assert 3 <= len(result.output.sections) <= 6
    assert result.model_calls >= 1 and result.completion_tokens > 0
    requests = [e for e in sink.events if isinstance(e, ModelRequest)]
    assert requests and all(e.agent == "planner" for e in requests)
    assert requests[0].settings.get("response_format") == "Outline"


async def test_retriever_plans_searches(runtime: AgentEngine, catalog: AgentCatalog) -> None:
    result = await runtime.run(
        catalog.get("retriever"),
        "Research questions: How does RAG reduce hallucination? What are its failure modes?",
    )
    assert isinstance(result.output, SearchPlan)
    assert 1 <= len(result.output.queries) <= 3
    assert set(result.tools_used) <= {"memory_search"}


async def test_writer_cites_only_the_keys_it_was_given(
    runtime: AgentEngine, catalog: AgentCatalog, memory: MemoryStore
) -> None:
    hits = memory.query("retrieval-augmented generation pipeline and benefits", k=3)
    keys = [h.key for h in hits]
    evidence = "\n\n".join(f"[{h.key}] {h.text}" for h in hits)
    result = await runtime.run(
        catalog.get("writer"),
        f"Paper topic: {TOPIC}\nSection: How RAG works\nEvidence:\n{evidence}",
        citation_keys=keys,
    )
    draft = result.output
    assert 2 <= len(draft.sentences) <= 6
    cited = {sentence.cite for sentence in draft.sentences}
    assert cited and cited <= set(keys)


async def test_writer_given_evidence_sentence_ids_picks_only_those(
    runtime: AgentEngine, catalog: AgentCatalog
) -> None:
    evidence = {
        "s1": "RAG retrieves passages from an index and adds them to the prompt.",
        "s2": "Grounding the answer in retrieved text reduces hallucination.",
        "s3": "The retriever is often a dense embedding model.",
    }
    listing = "\n".join(f"[{i}] {text}" for i, text in evidence.items())
    result = await runtime.run(
        catalog.get("writer"),
        f"Paper topic: {TOPIC}\nSection to write: How RAG works\nEvidence sentences:\n{listing}",
        choices=list(evidence),
    )
    draft = result.output
    assert 2 <= len(draft.sentences) <= 5
    assert {s.pick for s in draft.sentences} <= set(evidence)


async def test_reviewer_gives_a_verdict_over_given_keys(runtime: AgentEngine, catalog: AgentCatalog) -> None:
    result = await runtime.run(
        catalog.get("reviewer"),
        "Section: RAG retrieves passages and cites them [rag:0].\nEvidence: [rag:0] RAG combines a retriever "
        "with a language model.",
        citation_keys=["rag:0"],
    )
    assert result.output.verdict in ("approve", "revise")
    assert set(result.output.unsupported_citations) <= {"rag:0"}


async def test_json_schema_output_agent(runtime: AgentEngine) -> None:
    spec = AgentSpec(
        name="extractor",
        role="Extractor",
        goal="Extract the year.",
        output={
            "type": "object",
            "properties": {"year": {"type": "integer", "minimum": 1900, "maximum": 2100}},
            "required": ["year"],
            "additionalProperties": False,
        },
        model={"temperature": 0, "max_tokens": 30},
    )
    result = await runtime.run(spec, "LoRA was proposed by Hu and colleagues in 2021. Which year?")
    assert isinstance(result.output, dict) and 1900 <= result.output["year"] <= 2100


async def test_a_required_tool_choice_is_a_valid_call_of_an_allowed_tool(
    client: ModelClient, memory: MemoryStore
) -> None:
    registry = default_registry(plugins=False)
    context = ToolContext(memory=memory)
    tools = [RegistryTool(registry, "memory_search", context, ["memory_search"])]
    adapter = ScriptoriumChatClient(
        AgentModelCalls(
            client,
            await probe(client),
            caller="tester",
            model=None,
            temperature=0,
            max_tokens=120,
            max_tool_rounds=2,
        )
    )
    result = await adapter.create(
        [
            SystemMessage(content="You find sources."),
            UserMessage(content="Find passages about LoRA.", source="u"),
        ],
        tools=tools,
        tool_choice="required",
    )
    assert result.finish_reason == "function_calls"
    assert isinstance(result.content, list)
    (call,) = result.content
    assert call.name == "memory_search"
    sink = Collect()
    with EventBus("r", [sink]).active():
        text = await tools[0].run_json(json.loads(call.arguments), CancellationToken())
    assert "<<<DATA source=tool memory_search>>>" in text.text
    assert [type(e) for e in sink.events if isinstance(e, ToolCall)] == [ToolCall]


async def test_agent_with_tools_stays_within_max_turns(runtime: AgentEngine) -> None:
    spec = AgentSpec(
        name="researcher",
        role="Researcher",
        goal="Answer from the project's sources.",
        instructions="Search the memory before answering.",
        tools=["memory_search"],
        memory="read",
        max_turns=1,
        model={"temperature": 0, "max_tokens": 150},
    )
    result = await runtime.run(spec, "What does LoRA train?")
    assert isinstance(result.output, str) and result.output.strip()
    assert result.tool_calls <= 1
    assert result.model_calls <= 3  # one decision, at most one tool round's reflection, one answer


async def test_a_model_the_server_does_not_serve_is_named_with_the_served_ones(runtime: AgentEngine) -> None:
    spec = AgentSpec(name="x", role="r", goal="g", model={"adapter": "no-such-adapter"})
    with pytest.raises(ModelNotServed) as caught:
        await runtime.run(spec, "hi")
    assert "no-such-adapter" in str(caught.value)
    assert "smollm2-135m-instruct" in str(caught.value)
