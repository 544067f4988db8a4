"""Agent files: the library, CrewAI files, overrides, and a corpus of broken files with the exact
messages they must produce."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scriptorium.agents import AgentCatalog, default_outputs, fill_placeholders, load_agent_file
from scriptorium.agents.loader import UnknownAgent
from scriptorium.cli import app
from scriptorium.specfile import SpecErrors
from scriptorium.tools import default_registry

DATA = Path(__file__).parents[1] / "data"
BAD = sorted((DATA / "bad_agents").glob("*.yaml"))


def expected(path: Path) -> list[str]:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    return [part.strip() for part in first.removeprefix("# expect: ").split(" | ")]


def test_there_are_at_least_twenty_broken_files() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_each_broken_file_gives_its_precise_error(path: Path) -> None:
    agents, errors = load_agent_file(path, default_registry(plugins=False), default_outputs())
    assert errors, f"{path.name} loaded without error"
    assert len(agents) <= 1  # a valid sibling in a mapping still loads
    text = "\n".join(str(e) for e in errors)
    assert all(str(e).startswith(str(path)) for e in errors)
    for fragment in expected(path):
        assert fragment in text, f"{path.name}: {fragment!r} not in\n{text}"


def test_library_agents_load_with_their_outputs() -> None:
    catalog = AgentCatalog.load(default_registry(plugins=False), default_outputs())
    assert catalog.names() == ["answerer", "planner", "restater", "retriever", "reviewer", "titler", "writer"]
    assert catalog.get("writer").output == "section"
    assert catalog.get("restater").output == "restatement" and catalog.get("answerer").output == "restatement"
    assert catalog.get("retriever").tools == ["memory_search"]
    assert all(catalog.loaded(n).builtin for n in catalog.names())


def test_a_crewai_agents_yaml_loads_unchanged() -> None:
    path = DATA / "crewai_project" / "config" / "agents.yaml"
    agents, errors = load_agent_file(path, default_registry(plugins=False), default_outputs())
    assert errors == []
    by_name = {a.spec.name: a.spec for a in agents}
    assert set(by_name) == {"researcher", "reporting_analyst"}
    analyst = by_name["reporting_analyst"]
    assert analyst.model.name == "smollm2-135m-instruct" and analyst.max_turns == 3
    assert fill_placeholders(analyst.role, {"topic": "LoRA"}).strip() == "LoRA Reporting Analyst"
    assert [a.line for a in agents] == [1, 11]


def test_placeholders_leave_other_braces_alone() -> None:
    text = 'Answer as {"verdict": "approve"} about {topic}; keep {unknown}.'
    assert (
        fill_placeholders(text, {"topic": "RAG"})
        == 'Answer as {"verdict": "approve"} about RAG; keep {unknown}.'
    )


def test_project_agents_override_and_extend_the_library(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "writer.yaml").write_text("role: Poet\ngoal: Write verse.\n")
    (agents / "team.yaml").write_text("critic:\n  role: Critic\n  goal: Criticise.\n")
    catalog = AgentCatalog.load(default_registry(plugins=False), default_outputs(), [agents])
    assert catalog.get("writer").role == "Poet" and not catalog.loaded("writer").builtin
    assert catalog.get("critic").role == "Critic"
    assert catalog.get("planner").output == "outline"


def test_duplicate_names_across_project_files_are_errors(tmp_path: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "a.yaml").write_text("critic:\n  role: Critic\n  goal: Criticise.\n")
    (agents / "b.yaml").write_text("critic:\n  role: Other\n  goal: Other.\n")
    with pytest.raises(SpecErrors, match=r"duplicate agent name 'critic' \(also in .*a\.yaml:1\)"):
        AgentCatalog.load(default_registry(plugins=False), default_outputs(), [agents])


def test_unknown_agent_suggests_a_name() -> None:
    catalog = AgentCatalog.load(default_registry(plugins=False), default_outputs())
    with pytest.raises(Exception, match="did you mean 'writer'"):
        catalog.get("writter")


def test_cli_validate_lists_every_error_and_exits_2() -> None:
    result = CliRunner().invoke(app, ["agents", "validate", *map(str, BAD[:5])])
    assert result.exit_code == 2
    assert len(re.findall(r"^✗ ", result.output, re.M)) >= 5
    good = CliRunner().invoke(
        app, ["agents", "validate", str(DATA / "crewai_project" / "config" / "agents.yaml")]
    )
    assert good.exit_code == 0 and "2 agent(s) valid" in good.output


def test_cli_new_writes_a_template_that_validates(tmp_path: Path) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["agents", "new", "analyst"])
    assert made.exit_code == 0, made.output
    path = tmp_path / "agents" / "analyst.yaml"
    assert path.is_file()
    assert runner.invoke(app, ["agents", "validate", str(path)]).exit_code == 0
    listed = runner.invoke(app, ["agents", "list"])
    assert "analyst" in listed.output and "planner" in listed.output
    again = runner.invoke(app, ["agents", "new", "analyst"])
    assert again.exit_code == 2 and "already exists" in again.output


def test_settings_assign_fine_tunes_to_agents_without_a_model_of_their_own() -> None:
    catalog = AgentCatalog.load(default_registry(), default_outputs())
    writer = catalog.agents["writer"]
    own = writer.spec.model.model_copy(update={"name": "their-own"})
    catalog.agents["writer"] = replace(writer, spec=writer.spec.model_copy(update={"model": own}))
    tuned = catalog.with_models({"planner": "scriptorium-all", "writer": "scriptorium-all"})
    assert tuned.get("planner").requested_model == "scriptorium-all"
    assert tuned.get("writer").requested_model == "their-own"
    assert catalog.get("planner").requested_model is None  # the original is untouched
    with pytest.raises(UnknownAgent, match="no agent named 'plannr'; did you mean 'planner'"):
        catalog.with_models({"plannr": "x"})
    assert tuned.models_in_use()["scriptorium-all"] == ["planner"]
    assert "reviewer" in tuned.models_in_use()[None]
    everyone = catalog.with_models({"*": "all-roles", "planner": "planner-only"})
    assert everyone.get("planner").requested_model == "planner-only"
    assert everyone.get("reviewer").requested_model == "all-roles"
    assert everyone.get("writer").requested_model == "their-own"


def test_cli_warns_when_agents_would_mix_base_and_fine_tune_requests(tmp_path: Path) -> None:
    (tmp_path / "scriptorium.toml").write_text('[finetune]\nagents = { writer = "tuned" }\n')
    mixed = CliRunner().invoke(app, ["agents", "validate"])
    assert mixed.exit_code == 0, mixed.output
    output = " ".join(mixed.output.split())
    assert "warning: agents ask for different models" in output
    assert "tuned: writer" in output and 'agents = { "*" = NAME }' in output
    (tmp_path / "scriptorium.toml").write_text('[finetune]\nagents = { "*" = "tuned" }\n')
    everyone = CliRunner().invoke(app, ["agents", "validate"])
    assert everyone.exit_code == 0 and "warning" not in everyone.output
