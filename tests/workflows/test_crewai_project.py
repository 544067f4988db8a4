"""`import crewai` and `export crewai` without a server: what is written, what is listed as not
translated, and the errors of a broken project. Running an imported project is in test_engines_real."""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.errors import ConfigError
from scriptorium.specfile import SpecErrors
from scriptorium.tools import default_registry
from scriptorium.workflows import LIBRARY_DIR, load_workflow
from scriptorium.workflows.crewai_export import CrewTarget, export_crewai
from scriptorium.workflows.crewai_project import Translation, import_crewai

CREW = Path(__file__).parents[1] / "data" / "crewai_project"
NOTES = Path(__file__).parents[1] / "data" / "crewai_roundtrip"


def catalog(project: Path | None = None) -> AgentCatalog:
    dirs = [project / "agents"] if project else []
    return AgentCatalog.load(default_registry(plugins=False), default_outputs(), dirs)


def load(project: Path, name: str) -> object:
    tools, outputs = default_registry(plugins=False), default_outputs()
    return load_workflow(
        project / "workflows" / f"{name}.yaml", catalog=catalog(project), tools=tools, outputs=outputs
    )


def test_import_writes_agents_and_a_workflow_with_crewai_context_and_inputs(tmp_path: Path) -> None:
    translation = import_crewai(CREW, tmp_path, name="research")
    assert translation.files == [
        tmp_path / "agents" / "research.yaml",
        tmp_path / "workflows" / "research.yaml",
    ]
    workflow = yaml.safe_load(translation.files[1].read_text())
    assert list(workflow["inputs"]) == ["topic"]
    report = workflow["steps"]["reporting_task"]
    assert "{{ steps.research_task.output }}" in report["prompt"]  # CrewAI's default context
    assert report["variables"] == {"topic": "{{ inputs.topic }}"}
    assert workflow["steps"]["save_reporting_task"]["args"]["path"] == "outputs/report.md"
    agents = yaml.safe_load(translation.files[0].read_text())
    assert agents["reporting_analyst"]["max_turns"] == 3
    notes = "\n".join(translation.notes)
    assert "llm 'smollm2-135m-instruct' not kept" in notes
    assert "human_input" in notes and "verbose" in notes
    load(tmp_path, "research")  # validates


def test_explicit_context_tools_and_library_names(tmp_path: Path) -> None:
    crew = tmp_path / "crew" / "src" / "demo" / "config"
    crew.mkdir(parents=True)
    (crew / "agents.yaml").write_text(
        "writer:\n  role: Writer\n  goal: Write about {topic}\n  tools: [SerperDevTool, PDFSearchTool]\n"
        "  allow_delegation: true\n"
    )
    (crew / "tasks.yaml").write_text(
        "a:\n  description: First on {topic}\n  expected_output: x\n  agent: writer\n"
        "b:\n  description: Second\n  expected_output: y\n  agent: writer\n  context: []\n"
        "c:\n  description: Third in {style}\n  expected_output: z\n  agent: writer\n  context: [a]\n"
    )
    translation = import_crewai(tmp_path / "crew", tmp_path / "out", name="demo")
    agents = yaml.safe_load((tmp_path / "out" / "agents" / "demo.yaml").read_text())
    assert list(agents) == ["demo_writer"]  # the library's writer keeps its name
    assert agents["demo_writer"]["tools"] == ["web_search"]
    steps = yaml.safe_load((tmp_path / "out" / "workflows" / "demo.yaml").read_text())["steps"]
    assert "steps." not in steps["b"]["prompt"]
    assert "{{ steps.a.output }}" in steps["c"]["prompt"] and "steps.b" not in steps["c"]["prompt"]
    notes = "\n".join(translation.notes)
    assert "PDFSearchTool" in notes and "delegation" in notes and "'demo_writer'" in notes
    load(tmp_path / "out", "demo")
    with pytest.raises(ConfigError, match="would overwrite"):
        import_crewai(tmp_path / "crew", tmp_path / "out", name="demo")
    import_crewai(tmp_path / "crew", tmp_path / "out", name="demo", force=True)


def test_a_task_naming_an_unknown_agent_is_reported_with_file_and_line(tmp_path: Path) -> None:
    shutil.copytree(CREW, tmp_path / "crew")
    tasks = tmp_path / "crew" / "config" / "tasks.yaml"
    tasks.write_text(tasks.read_text().replace("agent: reporting_analyst", "agent: reporting_analist"))
    with pytest.raises(SpecErrors) as caught:
        import_crewai(tmp_path / "crew", tmp_path / "out")
    message = str(caught.value)
    assert f"{tasks}:" in message and "reporting_analist" in message and "reporting_analyst" in message
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_a_folder_without_crewai_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a CrewAI project"):
        import_crewai(tmp_path, tmp_path / "out")


def export(loaded: object, agents: AgentCatalog, dest: Path, **given: object) -> Translation:
    target = CrewTarget("http://127.0.0.1:9/v1", "served-model", None)
    return export_crewai(loaded, agents, default_outputs(), dest, target=target, **given)  # type: ignore[arg-type]


def build_exported_crew(dest: Path, package: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The exported @CrewBase class's crew, as `crewai run` would build it (no model is asked)."""
    monkeypatch.setenv("OPENAI_API_KEY", "not-used")
    monkeypatch.syspath_prepend(str(dest / "src"))
    for name in ("CREWAI_DISABLE_TELEMETRY", "CREWAI_DISABLE_TRACKING", "OTEL_SDK_DISABLED"):
        monkeypatch.setenv(name, "true")  # crew.py sets these for its own process: undone after the test
    for name in ("CREWAI_TRACING_ENABLED", "CREWAI_DISABLE_VERSION_CHECK"):
        monkeypatch.setenv(name, os.environ.get(name, "true" if "DISABLE" in name else "false"))
    try:
        crew_module = importlib.import_module(f"{package}.crew")
        crew_class = next(v for k, v in vars(crew_module).items() if k.endswith("Crew") and k != "Crew")
        return crew_class().crew()
    finally:
        for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
            del sys.modules[name]


def test_export_writes_a_crewai_project_in_the_standard_layout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tools, outputs = default_registry(plugins=False), default_outputs()
    loaded = load_workflow(LIBRARY_DIR / "paper.yaml", catalog=catalog(), tools=tools, outputs=outputs)
    translation = export(loaded, catalog(), tmp_path / "crew", inputs={"topic": "tide pools"})
    root = tmp_path / "crew"
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    assert pyproject["tool"]["crewai"]["type"] == "crew"
    assert pyproject["project"]["scripts"]["run_crew"] == "paper.main:run"  # what `crewai run` calls
    config = root / "src" / "paper" / "config"
    agents = yaml.safe_load((config / "agents.yaml").read_text())
    tasks = yaml.safe_load((config / "tasks.yaml").read_text())
    assert set(agents) == {"titler", "restater"}
    for name, task in tasks.items():
        assert task["agent"] in agents
        for mark in ("{{", "{%", "<", "[<"):  # no template left as literal text
            assert mark not in task["description"], (name, task["description"])
    assert "{topic}" in tasks["title"]["description"]
    notes = "\n".join(translation.notes)
    for tool_step in ("survey", "review", "assemble"):
        assert f"step '{tool_step}' is a tool step" in notes
    assert "inputs of the crew" in notes  # a map's item became a CrewAI input, named in the notes
    crew = build_exported_crew(root, "paper", monkeypatch)
    assert [task.name for task in crew.tasks] == list(tasks)
    by_name = {task.name: task for task in crew.tasks}
    for name, task in tasks.items():  # every task sees what its step read, and nothing more
        wired = by_name[name].context
        expected = task.get("context")
        assert ([t.name for t in wired] if isinstance(wired, list) else None) == expected, name
    title = by_name["title"]
    assert title.output_pydantic is not None and set(title.output_pydantic.model_fields) == {"title"}
    main = (root / "src" / "paper" / "main.py").read_text()
    assert '"topic": "tide pools"' in main


def test_export_then_import_then_export_writes_the_same_files(tmp_path: Path) -> None:
    """A workflow with a step-level output schema, a library agent's registered output, a context
    and an input default: exported, imported into a fresh project, exported again, byte for byte."""
    shutil.copytree(NOTES, tmp_path / "first")
    first = export(load(tmp_path / "first", "notes"), catalog(tmp_path / "first"), tmp_path / "out1")
    translation = import_crewai(tmp_path / "out1", tmp_path / "second")
    assert translation.files[1].name == "notes.yaml"  # the name pyproject.toml gives
    workflow = yaml.safe_load(translation.files[1].read_text())
    assert workflow["inputs"]["topic"]["default"] == "tide pools"  # main.py's INPUTS
    assert workflow["steps"]["summary"]["output"]["required"] == ["title", "summary"]  # models.py
    assert workflow["steps"]["plan"]["agent"] == "planner"  # the library's own, not a renamed copy
    second = export(load(tmp_path / "second", "notes"), catalog(tmp_path / "second"), tmp_path / "out2")
    names = [p.relative_to(tmp_path / "out1") for p in first.files]
    assert names == [p.relative_to(tmp_path / "out2") for p in second.files]
    for name in names:
        assert (tmp_path / "out1" / name).read_text() == (tmp_path / "out2" / name).read_text(), name


def test_import_then_export_keeps_the_tasks(tmp_path: Path) -> None:
    import_crewai(CREW, tmp_path, name="research")
    tools, outputs = default_registry(plugins=False), default_outputs()
    project = catalog(tmp_path)
    loaded = load_workflow(
        tmp_path / "workflows" / "research.yaml", catalog=project, tools=tools, outputs=outputs
    )
    export(loaded, project, tmp_path / "back")
    tasks = yaml.safe_load((tmp_path / "back" / "src" / "research" / "config" / "tasks.yaml").read_text())
    assert list(tasks) == ["research_task", "reporting_task"]
    assert tasks["reporting_task"]["context"] == ["research_task"]
    assert "{topic}" in tasks["research_task"]["description"]


def test_an_unknown_engine_is_refused_before_anything_starts(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from scriptorium.cli import app

    result = CliRunner().invoke(app, ["run", "paper", "--topic", "x", "--engine", "langgraph"])
    assert result.exit_code == 2
    assert "unknown engine 'langgraph'" in result.output and "autogen, crewai" in result.output
    assert not (tmp_path / "runs").exists()


LAYOUT = Path(__file__).parents[1] / "data" / "crewai_layout" / "job_posting"


def test_a_crew_in_the_standard_layout_imports_unchanged_with_what_crew_py_says(tmp_path: Path) -> None:
    """tasks.yaml names no agent and no context: crew.py assigns them (`agent=self.x()`,
    `context=[self.y()]`), as in most CrewAI projects; its tools and classes are reported."""
    translation = import_crewai(LAYOUT, tmp_path, name="jobs")
    workflow = yaml.safe_load(translation.files[1].read_text())
    steps = workflow["steps"]
    assert steps["research_company_culture_task"]["agent"] == "research_agent"
    assert steps["draft_job_posting_task"]["agent"] == "writer_agent"
    review = steps["review_and_edit_job_posting_task"]
    assert review["agent"] == "review_agent"
    assert "{{ steps.draft_job_posting_task.output }}" in review["prompt"]
    assert "steps.research_company_culture_task" not in review["prompt"]  # its own context only
    assert set(workflow["inputs"]) == {"company_domain", "company_description", "hiring_needs", "notes"}
    assert "hiring team: {{ inputs.notes }}." in steps["draft_job_posting_task"]["prompt"]  # {{notes}}
    agents = yaml.safe_load(translation.files[0].read_text())
    assert agents["research_agent"]["tools"] == ["web_search"]  # SerperDevTool
    notes = "\n".join(translation.notes)
    assert "tool 'ScrapeWebsiteTool' has no registry equivalent" in notes
    assert "tool 'CompanyDirectoryTool' has no registry equivalent" in notes
    assert review["output"]["title"] == "JobPosting"  # output_pydantic=JobPosting, read from crew.py
    assert review["output"]["required"] == ["title", "summary"]
    assert workflow["inputs"]["company_domain"]["default"] == "example.com"  # main.py's inputs
    assert "allow_delegation is not translated" in notes and "crew.py:" in notes
    load(tmp_path, "jobs")  # validates


def test_a_second_crew_with_the_same_agent_names_is_prefixed_and_a_dry_run_writes_nothing(
    tmp_path: Path,
) -> None:
    from typer.testing import CliRunner

    from scriptorium.cli import app

    import_crewai(LAYOUT, tmp_path, name="jobs")
    preview = CliRunner().invoke(
        app, ["import", "crewai", str(LAYOUT), "--name", "jobs2", "--to", str(tmp_path), "--dry-run"]
    )
    assert preview.exit_code == 0, preview.output
    assert "would write" in preview.output and "nothing written" in preview.output
    assert not (tmp_path / "workflows" / "jobs2.yaml").exists()
    again = import_crewai(LAYOUT, tmp_path, name="jobs2")
    agents = yaml.safe_load(again.files[0].read_text())
    assert set(agents) == {"jobs2_research_agent", "jobs2_writer_agent", "jobs2_review_agent"}
    assert "an agent of this project has its name" in "\n".join(again.notes)
    load(tmp_path, "jobs")  # both validate side by side: no clash left behind
    load(tmp_path, "jobs2")


def test_a_translation_that_does_not_validate_writes_nothing(tmp_path: Path) -> None:
    crew = tmp_path / "crew" / "config"
    crew.mkdir(parents=True)
    (crew / "agents.yaml").write_text("writer:\n  role: Writer\n  goal: Write\n  max_iter: 1\n")
    (crew / "tasks.yaml").write_text("t1:\n  description: Write {x}\n  agent: writer\n  output_file: ''\n")
    bad = {"writer": {"role": "Writer", "goal": "Write", "tools": ["no_such_tool"]}}
    (tmp_path / "out" / "agents").mkdir(parents=True)
    (tmp_path / "out" / "agents" / "mine.yaml").write_text(yaml.safe_dump(bad))  # a broken project agent
    with pytest.raises(ConfigError, match="nothing was written"):
        import_crewai(tmp_path / "crew", tmp_path / "out", name="demo")
    assert not (tmp_path / "out" / "workflows").exists()
    assert not (tmp_path / "out" / "agents" / "demo.yaml").exists()


def test_expected_output_stays_its_own_field_through_import_and_export(tmp_path: Path) -> None:
    import_crewai(LAYOUT, tmp_path, name="jobs")
    workflow = yaml.safe_load((tmp_path / "workflows" / "jobs.yaml").read_text())
    draft = workflow["steps"]["draft_job_posting_task"]
    assert draft["expected_output"].startswith("A job posting in Markdown")
    assert "Expected output" not in draft["prompt"]
    loaded = load(tmp_path, "jobs")
    export(loaded, catalog(tmp_path), tmp_path / "crew")
    tasks = yaml.safe_load((tmp_path / "crew" / "src" / "jobs" / "config" / "tasks.yaml").read_text())
    assert tasks["draft_job_posting_task"]["expected_output"].startswith("A job posting in Markdown")
    assert "Expected output" not in tasks["draft_job_posting_task"]["description"]


def test_a_crew_built_in_a_plain_script_imports_with_its_agents_context_and_what_is_dropped(
    tmp_path: Path,
) -> None:
    """No @CrewBase: `Agent(config=agents_config[...])` and `Task(description=tasks_config[...])`
    assigned to variables, as in several official examples; `{{discussion}}` becomes an input."""
    translation = import_crewai(LAYOUT.parent / "script_crew", tmp_path, name="screenplay")
    workflow = yaml.safe_load(translation.files[1].read_text())
    steps = workflow["steps"]
    agents = [steps[t]["agent"] for t in ("task0", "task1", "task2")]
    assert agents == ["spamfilter", "screenplay_writer", "screenplay_writer"]  # `writer` is the library's
    assert "{{ inputs.discussion }}" in steps["task0"]["prompt"]
    assert "{{ steps.task1.output }}" in steps["task2"]["prompt"]  # context=[task1]: only that one
    assert "steps.task0" not in steps["task2"]["prompt"]
    notes = "\n".join(translation.notes)
    assert "screenplay.py:" in notes and "task 'task2': human_input" in notes
    assert "process 'hierarchical' runs as a sequential workflow" in notes
    assert "allow_delegation" not in notes  # False is CrewAI's default: nothing is lost
    load(tmp_path, "screenplay")


def test_a_flow_crew_gets_its_output_model_from_the_flow_package(tmp_path: Path) -> None:
    crew = LAYOUT.parent / "poem_flow" / "src" / "poem_flow" / "crews" / "poem_crew"
    translation = import_crewai(crew, tmp_path, name="poems")
    step = yaml.safe_load(translation.files[1].read_text())["steps"]["write_poem"]
    schema = step["output"]
    assert schema["title"] == "Poem" and schema["description"] == "A short poem and its mood."
    assert schema["required"] == ["title", "lines", "mood"]
    assert schema["properties"]["mood"] == {"enum": ["calm", "joyful", "sad"]}
    assert schema["properties"]["lines"]["minItems"] == 2
    assert schema["$defs"]["Line"]["properties"]["text"]["maxLength"] == 120
    loaded = load(tmp_path, "poems")
    assert loaded.spec.steps["write_poem"].output == schema  # type: ignore[attr-defined]


def test_the_export_command_names_a_wrong_input_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from scriptorium.cli import app

    shutil.copytree(NOTES, tmp_path / "project")
    monkeypatch.chdir(tmp_path / "project")
    runner = CliRunner()
    base = ["export", "crewai", "notes", "--to", str(tmp_path / "crew")]
    wrong = runner.invoke(app, [*base, "-i", "topik=tides"])
    assert wrong.exit_code == 2 and "--input topik" in wrong.output and "topic" in wrong.output, wrong.output
    assert not (tmp_path / "crew").exists()  # nothing written
    done = runner.invoke(app, [*base, "-i", "topic=tides"])
    assert done.exit_code == 0, done.output
    assert '"topic": "tides"' in (tmp_path / "crew" / "src" / "notes" / "main.py").read_text()
    again = runner.invoke(app, base)
    assert again.exit_code == 2 and "--force" in again.output
