"""The official CrewAI examples, imported unchanged, validated, and their first task run.

    .venv/bin/python bench/crewai_examples.py --examples PATH/crewAI-examples [--engine crewai]

Every crew of the checkout (a folder holding config/agents.yaml and config/tasks.yaml, the crew's
project being the folder above `src/` where it has one) is imported with `import_crewai` into a
scratch project, nothing changed by hand; the import validates it. Then its first task runs against
the running model server (`scriptorium serve --detach`), all crews at once, each input given its
value from the crew's main.py or, failing that, a sample. What each import could not carry over is
counted and named by feature. The examples are not vendored (the repository has no licence file).

Writes bench/results/crewai-examples.json (one entry per engine) and prints the table docs/engines.md shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from scriptorium.config import load_settings
from scriptorium.errors import ScriptoriumError
from scriptorium.project import Project
from scriptorium.specfile import SpecErrors
from scriptorium.workflows.crewai_project import import_crewai

RESULTS = Path(__file__).parent / "results" / "crewai-examples.json"
SAMPLE = "AI agents for small businesses"


@dataclass
class Outcome:
    crew: str
    tasks: int = 0
    output_models: int = 0
    """Tasks whose output_pydantic/output_json class became the step's output schema."""
    imported: bool = False
    error: str = ""
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """Features named in the notes (tools, Python-only settings, fields)."""
    sample_inputs: list[str] = field(default_factory=list)
    """Inputs with no value in the crew's main.py, given SAMPLE."""
    ran: bool = False
    run_error: str = ""
    seconds: float = 0.0
    answer_chars: int = 0


def crews(examples: Path) -> list[Path]:
    found = []
    for config in sorted(examples.rglob("config/agents.yaml")):
        if not (config.parent / "tasks.yaml").is_file():
            continue
        crew = config.parent.parent
        found.append(crew.parent.parent if crew.parent.name == "src" else crew)
    return found


def dropped(notes: list[str]) -> list[str]:
    names: set[str] = set()
    for note in notes:
        names.update(f"tool {t}" for t in re.findall(r"tool '([^']+)' has no registry", note))
        names.update(re.findall(r": ([a-z_]+)(?: \([^)]*\))?(?: \w+)? is not translated", note))
        for fields in re.findall(r"not translated: ([a-z_, ]+)", note):
            names.update(f.strip() for f in fields.split(","))
        if "is computed in Python" in note:
            names.add("computed input")
        if "process '" in note:
            names.add("hierarchical process")
    return sorted(names)


def import_one(crew: Path, root: Path, work: Path) -> tuple[Outcome, Path | None]:
    outcome = Outcome(crew=str(crew.relative_to(root)))
    project = work / re.sub(r"\W+", "-", outcome.crew)
    try:
        translation = import_crewai(crew, project, name="crew")
    except (ScriptoriumError, SpecErrors) as exc:
        outcome.error = str(exc).replace(str(root) + "/", "")
        return outcome, None
    outcome.imported = True
    outcome.notes = [n.replace(str(root) + "/", "") for n in translation.notes]
    outcome.dropped = dropped(translation.notes)
    workflow = yaml.safe_load(translation.files[1].read_text())
    outcome.tasks = sum(1 for step in workflow["steps"].values() if "agent" in step)
    outcome.output_models = sum(1 for step in workflow["steps"].values() if "output" in step)
    return outcome, project


async def run_first_task(outcome: Outcome, project: Path, engine: str | None) -> None:
    """The crew's first task as a one-step workflow in the imported project."""
    workflow = yaml.safe_load((project / "workflows" / "crew.yaml").read_text())
    first = next(sid for sid, step in workflow["steps"].items() if "agent" in step)
    step = workflow["steps"][first]
    used = set(re.findall(r"inputs\.([A-Za-z_]\w*)", json.dumps(step)))
    inputs = {name: spec for name, spec in workflow["inputs"].items() if name in used}
    values = {name: spec.get("default", SAMPLE) for name, spec in inputs.items()}
    outcome.sample_inputs = sorted(name for name, spec in inputs.items() if "default" not in spec)
    one = {
        "name": "first-task",
        "inputs": inputs,
        "steps": {first: step},
        "outputs": {"answer": f"{{{{ steps.{first}.output }}}}"},
    }
    (project / "workflows" / "first-task.yaml").write_text(yaml.safe_dump(one, sort_keys=False))
    settings = load_settings(project_dir=project)
    started = time.monotonic()
    try:
        result = (await Project(settings).run("first-task", values, engine=engine)).result
    except ScriptoriumError as exc:
        outcome.run_error = str(exc)
        return
    outcome.seconds = round(time.monotonic() - started, 1)
    if result.status == "succeeded":
        outcome.ran = True
        outcome.answer_chars = len(str(result.outputs.get("answer") or ""))
    else:
        outcome.run_error = str(result.error)


def table(outcomes: list[Outcome]) -> str:
    lines = [
        "| crew | tasks | output models | imported unchanged | first task ran | not carried over (by name) |",
        "|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        ran = f"yes ({o.seconds:.0f} s)" if o.ran else (o.run_error[:60] or "-")
        imported = "yes" if o.imported else "no: " + o.error[:80]
        left = ", ".join(o.dropped) or "-"
        lines.append(f"| {o.crew} | {o.tasks} | {o.output_models} | {imported} | {ran} | {left} |")
    return "\n".join(lines)


async def import_and_run(root: Path, engine: str | None) -> list[Outcome]:
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="crewai-examples-") as folder:
        projects: list[tuple[Outcome, Path]] = []
        for crew in crews(root):
            outcome, project = import_one(crew, root, Path(folder))
            outcomes.append(outcome)
            if project is not None:
                projects.append((outcome, project))
        await asyncio.gather(*(run_first_task(o, p, engine) for o, p in projects))
    return outcomes


def git_head(folder: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    return done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=Path, required=True, help="a checkout of crewAI-examples")
    parser.add_argument("--engine", choices=["autogen", "crewai"], default=None)
    parser.add_argument("--examples-commit", default=None, help="the checkout's commit, if not a git folder")
    args = parser.parse_args()
    root = args.examples.resolve()
    outcomes = asyncio.run(import_and_run(root, args.engine))
    record: dict[str, Any] = {
        "date": datetime.now(UTC).date().isoformat(),
        "commit": git_head(Path(__file__).parent),
        "examples": "crewAIInc/crewAI-examples " + (args.examples_commit or git_head(root) or "?"),
        "engine": args.engine or "autogen",
        "machine": f"{os.cpu_count()} CPU cores, no GPU",
        "crews": len(outcomes),
        "imported": sum(o.imported for o in outcomes),
        "first_task_ran": sum(o.ran for o in outcomes),
        "output_models": sum(o.output_models for o in outcomes),
        "outcomes": [asdict(o) for o in outcomes],
    }
    previous = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**previous, record["engine"]: record}, indent=2) + "\n")
    print(table(outcomes))
    print(f"\n{record['imported']}/{len(outcomes)} imported, {record['first_task_ran']} first tasks ran")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
