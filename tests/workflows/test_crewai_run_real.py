"""An exported crew run by CrewAI itself: `crewai run` in the exported project, against the real
server, with CrewAI's own LLM class (not Scriptorium's client) making every request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from scriptorium.agents import AgentCatalog, default_outputs
from scriptorium.serving import Endpoint
from scriptorium.tools import default_registry
from scriptorium.workflows import load_workflow
from scriptorium.workflows.crewai_export import CrewTarget, export_crewai

pytestmark = pytest.mark.server
NOTES = Path(__file__).parents[1] / "data" / "crewai_roundtrip"


def install_like_crewai_install(project: Path, env: Path) -> None:
    """`crewai install` (uv sync) without the package index: a venv that sees this one's packages
    (crewai among them) through a .pth file, and the exported project installed into it."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = Path(sysconfig.get_paths(vars={"base": str(env), "platbase": str(env)})["purelib"])
    (site / "app-packages.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [str(env / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index"]
    subprocess.run([*pip, "--no-build-isolation", "-e", str(project)], check=True, capture_output=True)


def test_an_exported_crew_runs_with_crewai_run_against_the_real_server(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    shutil.copytree(NOTES, tmp_path / "project")
    tools, outputs = default_registry(plugins=False), default_outputs()
    catalog = AgentCatalog.load(tools, outputs, [tmp_path / "project" / "agents"])
    loaded = load_workflow(
        tmp_path / "project" / "workflows" / "notes.yaml", catalog=catalog, tools=tools, outputs=outputs
    )
    key_file = tmp_path / "api_key"  # as Scriptorium keeps it; the key never enters the project
    key_file.write_text(endpoint.api_key.get_secret_value() + "\n")
    crew = tmp_path / "crew"
    export_crewai(
        loaded, catalog, outputs, crew, target=CrewTarget(endpoint.base_url, endpoint.model, key_file)
    )
    written = "".join(p.read_text() for p in crew.rglob("*") if p.is_file())
    assert endpoint.api_key.get_secret_value() not in written
    install_like_crewai_install(crew, tmp_path / "env")
    bin_dir = Path(sys.executable).parent  # crewai's CLI and uv live beside this interpreter
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "MODEL"))}
    env |= {
        "PATH": f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        "UV_PROJECT_ENVIRONMENT": str(tmp_path / "env"),  # the environment `crewai install` made
        "UV_NO_SYNC": "1",
        "UV_OFFLINE": "1",
        "MAX_TOKENS": "400",  # room for the bounded JSON answer (its strings have maxLength)
    }
    done = subprocess.run(
        [str(bin_dir / "crewai"), "run"], cwd=crew, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "An error occurred" not in done.stdout + done.stderr, done.stderr[-2000:]
    # The last task (summary) answers with its output model, written in models.py as NoteSummary.
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(answer) == {"title", "summary"} and answer["title"].strip() and answer["summary"].strip()
