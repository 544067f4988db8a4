"""The files of a CrewAI project in the layout `crewai create crew` makes, as text.

    pyproject.toml            [tool.crewai] type "crew"; `run_crew` runs main.run (what `crewai run` calls)
    src/<pkg>/main.py          the inputs, and the kickoff
    src/<pkg>/crew.py          a @CrewBase class: one @agent and one @task method per config entry
    src/<pkg>/models.py        the tasks' output models (pydantic), when any task has one
    src/<pkg>/config/*.yaml    agents and tasks (written by crewai_export)

Every agent's LLM is the OpenAI-compatible server the export was made from; the key is read from
OPENAI_API_KEY or from the file Scriptorium keeps it in, never written into the project.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..agents import AgentSpec

__all__ = ["CrewTarget", "agent_entry", "crew_py", "main_py", "pyproject_toml", "readme"]


@dataclass(frozen=True)
class CrewTarget:
    """Where the exported crew's agents send their requests."""

    base_url: str
    model: str
    key_file: Path | None = None
    """The file holding the server's API key (the path, never the key, goes into crew.py)."""


def agent_entry(agent: AgentSpec) -> tuple[dict[str, Any], list[str]]:
    """An agent as a config/agents.yaml entry, and what it says that CrewAI cannot hear."""
    notes: list[str] = []
    backstory = agent.backstory
    if agent.instructions:
        backstory = (backstory + "\n\n" + agent.instructions).strip()
        notes.append(f"agent '{agent.name}': instructions are appended to the backstory")
    entry: dict[str, Any] = {
        "role": agent.role,
        "goal": agent.goal,
        "backstory": backstory,
        "max_iter": agent.max_turns,
        "allow_delegation": False,
    }
    if agent.model.name or agent.model.adapter:
        notes.append(
            f"agent '{agent.name}': its own model setting is left out (every agent asks SERVED_MODEL)"
        )
    if agent.tools:
        notes.append(f"agent '{agent.name}': tools {', '.join(agent.tools)} are Scriptorium's, left out")
    if agent.memory != "none":
        notes.append(f"agent '{agent.name}': memory access ({agent.memory}) is not translated")
    return entry, notes


def pyproject_toml(name: str, package: str, description: str) -> str:
    return f"""[project]
name = {json.dumps(name)}
version = "0.1.0"
description = {json.dumps(description)}
requires-python = ">=3.10,<3.14"
dependencies = ["crewai>=1.15"]

[project.scripts]
{package} = "{package}.main:run"
run_crew = "{package}.main:run"

[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[tool.setuptools.packages.find]
where = ["src"]

[tool.setuptools.package-data]
"*" = ["config/*.yaml"]

[tool.crewai]
type = "crew"
"""


def crew_py(
    *,
    workflow: str,
    class_name: str,
    target: CrewTarget,
    agents: Sequence[str],
    tasks: Mapping[str, str | None],
) -> str:
    """`tasks`: task name -> its output model's class name (None: free text)."""
    models = sorted({m for m in tasks.values() if m})
    lines = [
        f'"""The crew exported from the Scriptorium workflow {workflow!r} (`scriptorium export crewai`).',
        "",
        "Agents and tasks are in config/; each task's context (the earlier outputs it sees) is its",
        "`context` there. Every agent asks the model below; set MODEL, OPENAI_API_BASE and",
        'OPENAI_API_KEY to ask another one."""',
        "",
        "import os",
        "from pathlib import Path",
        "",
        "# Before crewai is imported: no telemetry, tracing or version check leaves this machine.",
        "for _name in ('CREWAI_DISABLE_TELEMETRY', 'CREWAI_DISABLE_TRACKING', 'OTEL_SDK_DISABLED'):",
        "    os.environ.setdefault(_name, 'true')",
        "os.environ.setdefault('CREWAI_TRACING_ENABLED', 'false')",
        "os.environ.setdefault('CREWAI_DISABLE_VERSION_CHECK', 'true')",
        "",
        "from crewai import LLM, Agent, Crew, Process, Task  # noqa: E402",
        "from crewai.project import CrewBase, agent, crew, task  # noqa: E402",
    ]
    if models:
        lines.append(f"from .models import {', '.join(models)}  # noqa: E402")
    key_file = repr(str(target.key_file)) if target.key_file else "None"
    lines += [
        "",
        f"SERVED_URL = {target.base_url!r}",
        f"SERVED_MODEL = {target.model!r}",
        f"KEY_FILE = {key_file}",
        "",
        "",
        "def served_model() -> LLM:",
        '    """The model Scriptorium serves, through its OpenAI-compatible endpoint."""',
        "    key = os.environ.get('OPENAI_API_KEY')",
        "    if not key and KEY_FILE and Path(KEY_FILE).is_file():",
        "        key = Path(KEY_FILE).read_text(encoding='utf-8').strip()",
        "    return LLM(",
        "        model=os.environ.get('MODEL', 'openai/' + SERVED_MODEL),",
        "        base_url=os.environ.get('OPENAI_API_BASE', SERVED_URL),",
        "        api_key=key or 'EMPTY',",
        "        max_tokens=int(os.environ.get('MAX_TOKENS', '512')),",
        "        temperature=0.3,",
        "    )",
        "",
        "",
        "@CrewBase",
        f"class {class_name}:",
        f'    """{workflow}"""',
        "",
        "    agents_config = 'config/agents.yaml'",
        "    tasks_config = 'config/tasks.yaml'",
    ]
    for name in agents:
        lines += [
            "",
            "    @agent",
            f"    def {name}(self) -> Agent:",
            f"        return Agent(config=self.agents_config[{name!r}], llm=served_model())",
        ]
    for name, model in tasks.items():
        output = f", output_pydantic={model}" if model else ""
        lines += [
            "",
            "    @task",
            f"    def {name}(self) -> Task:",
            f"        return Task(config=self.tasks_config[{name!r}]{output})",
        ]
    lines += [
        "",
        "    @crew",
        "    def crew(self) -> Crew:",
        "        return Crew(agents=self.agents, tasks=self.tasks, process=Process.sequential)",
        "",
    ]
    return "\n".join(lines)


def main_py(*, package: str, class_name: str, inputs: Mapping[str, str | None]) -> str:
    """`run()` (the `run_crew` script `crewai run` calls) kicks the crew off with INPUTS, each
    replaced by a `name=value` argument given on the command line."""
    known = {k: v for k, v in inputs.items() if v is not None}
    missing = [k for k, v in inputs.items() if v is None]
    return f'''"""Run the crew: `crewai run`, or `run_crew name=value ...` to change an input."""

import sys

from {package}.crew import {class_name}

INPUTS = {json.dumps(known, indent=4, ensure_ascii=False)}
REQUIRED = {missing!r}
"""Inputs the export had no value for: give each as name=value, or add it to INPUTS."""


def run() -> None:
    inputs = dict(INPUTS)
    for arg in sys.argv[1:]:
        name, sep, value = arg.partition("=")
        if not sep:
            sys.exit(f"expected name=value, got {{arg!r}}")
        inputs[name] = value
    missing = [name for name in REQUIRED if name not in inputs]
    if missing:
        sys.exit("no value for " + ", ".join(missing) + ": give name=value, or add it to INPUTS in main.py")
    result = {class_name}().crew().kickoff(inputs=inputs)
    print(result.raw)


if __name__ == "__main__":
    run()
'''


def readme(*, name: str, description: str, package: str) -> str:
    return f"""# {name}

{description}

Exported from a Scriptorium workflow by `scriptorium export crewai`. Agents and tasks are in
`src/{package}/config/`, the crew in `src/{package}/crew.py`, the inputs in `src/{package}/main.py`.

```bash
crewai install    # or: pip install -e .
crewai run        # or: run_crew name=value ...
```

The agents ask the model Scriptorium serves (`scriptorium serve --detach` starts it); set `MODEL`,
`OPENAI_API_BASE` and `OPENAI_API_KEY` to use another OpenAI-compatible server. What the workflow
says that CrewAI cannot express was listed by the export.
"""
