"""A fine-tune trained here is served by real vLLM servers: as a LoRA adapter beside the base, and as
its merged folder under its own name; `eval roles` compares it with the base through the server.

These tests start servers of their own, so they stop the session's server first (never two at once)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.agents.outputs import Outline
from scriptorium.agents.runtime import AgentResult, AgentRuntime
from scriptorium.cli import app
from scriptorium.config import Settings, load_settings
from scriptorium.errors import UnknownModel
from scriptorium.events import EventBus, ModelRequest
from scriptorium.finetune.registry import ModelRecord, ModelRegistry
from scriptorium.finetune.service import plan_finetune, run_finetune
from scriptorium.finetune.train import LoraRecipe
from scriptorium.serving import Endpoint, ManagedServer, ModelClient, ServerState
from scriptorium.tools import default_registry

from ..conftest import free_port

pytestmark = [pytest.mark.server, pytest.mark.own_server]

NAME = "tiny-writer"


class _Sink:
    def __init__(self, events: list[object]) -> None:
        self.events = events

    def handle(self, event: object) -> None:
        self.events.append(event)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding one tiny fine-tune of the writer role (2 steps: enough to be an adapter)."""
    folder = tmp_path_factory.mktemp("registry")
    settings = load_settings(None, finetune={"registry": folder})
    recipe = LoraRecipe(r=4, alpha=8, top_layers=2, max_steps=2, batch_size=2, learning_rate=5e-3)
    plan = plan_finetune(settings, name=NAME, roles=("writer",), recipe=recipe)
    run_finetune(settings, plan)
    return folder


@pytest.fixture
def no_session_server(server_settings: Settings) -> None:
    server = ManagedServer(server_settings)
    if server.running() is not None:
        server.stop()


def _settings(root: Path, registry: Path, **server: object) -> Settings:
    return load_settings(
        None,
        finetune={"registry": registry},
        state_dir=root / "state",
        config_dir=root / "config",
        server={"port": free_port(), "max_model_len": 4096, **server},
    )


@pytest.fixture
def serving(no_session_server: None) -> Iterator[list[ManagedServer]]:
    started: list[ManagedServer] = []
    yield started
    for server in started:
        if server.running() is not None:
            server.stop()


def _ask(state: ServerState, model: str) -> dict[str, object]:
    response = httpx.post(
        f"{state.base_url}/chat/completions",
        headers={"Authorization": f"Bearer {state.api_key.get_secret_value()}"},
        json={
            "model": model,
            "messages": [{"role": "user", "content": "Name one cause of the Black Death."}],
            "max_tokens": 24,
            "temperature": 0,
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _served(state: ServerState) -> set[str]:
    response = httpx.get(
        f"{state.base_url}/models",
        headers={"Authorization": f"Bearer {state.api_key.get_secret_value()}"},
    )
    return {entry["id"] for entry in response.json()["data"]}


def test_adapter_is_served_beside_the_base_and_eval_roles_compares_them(
    tmp_path: Path,
    registry: Path,
    serving: list[ManagedServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = _settings(tmp_path, registry, model="base", adapters=[NAME])  # trained over the base
    server = ManagedServer(settings)
    serving.append(server)
    state = server.start()
    assert state.adapters == [NAME]
    assert _served(state) == {state.model, NAME}
    assert _ask(state, state.model)["model"] == state.model
    assert _ask(state, NAME)["model"] == NAME

    # An agent assigned the fine-tune (settings' `[finetune] agents`) asks for it by name.
    settings_file = tmp_path / "scriptorium.toml"
    settings_file.write_text(f'[finetune]\nagents = {{ planner = "{NAME}" }}\n')
    catalog = AgentCatalog.load(default_registry(), default_outputs()).with_models(
        load_settings(settings_file).finetune.agents
    )
    sink: list[object] = []
    endpoint = Endpoint(state.base_url, state.api_key, state.model)

    async def plan() -> AgentResult:
        async with ModelClient(endpoint) as client:
            runtime = AgentRuntime(client, tools=default_registry(), outputs=default_outputs())
            with EventBus("r", [_Sink(sink)]).active():
                return await runtime.run(catalog.get("planner"), "Plan a short paper on the Black Death.")

    result = asyncio.run(plan())
    assert isinstance(result.output, Outline)
    requested = {
        event.model for event in sink if isinstance(event, ModelRequest) and event.agent == "planner"
    }
    assert requested == {NAME}

    for name, value in {
        "SCRIPTORIUM_STATE_DIR": settings.state_dir,
        "SCRIPTORIUM_CONFIG_DIR": settings.config_dir,
        "SCRIPTORIUM_FINETUNE__REGISTRY": registry,
        "SCRIPTORIUM_SERVER__PORT": settings.server.port,
    }.items():
        monkeypatch.setenv(name, str(value))
    status = CliRunner().invoke(app, ["serve", "--status"])
    assert "LoRA adapters" in status.output and NAME in status.output
    roles = CliRunner().invoke(
        app, ["eval", "roles", "--model", NAME, "--limit", "3", "--out", str(tmp_path / "roles.json")]
    )
    assert roles.exit_code == 0, roles.output
    report = json.loads((tmp_path / "roles.json").read_text())
    writer = report["roles"]["writer"]
    assert writer["rows"] == 3
    assert set(writer) == {"rows", state.model, NAME}
    assert set(writer[NAME]) == {"cites", "cites_only_given"}
    losses = report["heldout_loss"]
    assert losses[state.model]["loss"] > 0 and losses[NAME]["loss"] > 0
    assert losses[NAME]["loss"] != losses[state.model]["loss"]
    record = ModelRegistry(registry).get(NAME)
    assert record.metrics["eval_roles"]["roles"]["writer"]["rows"] == 3


def test_merged_fine_tune_is_served_by_name(
    tmp_path: Path, registry: Path, serving: list[ManagedServer]
) -> None:
    settings = _settings(tmp_path, registry, model=NAME)
    server = ManagedServer(settings)
    serving.append(server)
    state = server.start()
    record: ModelRecord = ModelRegistry(registry).get(NAME)
    assert state.model == NAME and state.model_path == record.merged_path
    assert _served(state) == {NAME}
    reply = _ask(state, NAME)
    assert reply["choices"][0]["message"]["content"]  # type: ignore[index]


def test_an_adapter_over_another_base_or_an_unknown_name_is_refused_before_starting(
    tmp_path: Path, registry: Path
) -> None:
    with pytest.raises(UnknownModel, match="no fine-tune named 'nope'"):
        ManagedServer(_settings(tmp_path, registry, adapters=["nope"])).start()
    with pytest.raises(UnknownModel, match=f"adapter '{NAME}' was trained over"):
        ManagedServer(_settings(tmp_path, registry, model=NAME, adapters=[NAME])).start()
