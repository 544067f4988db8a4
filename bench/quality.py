"""Paper quality on a development set: the paper batch on bench/quality/<set>, then `eval batch`.

    .venv/bin/python bench/quality.py [--set neutral|titled] [--topics a,b] [--concurrency 12]
                                      [--models default,base]

Two sets: `neutral` (the default: 12 topics whose sources are titled "<topic>: source N" and hold
no headings, as a user's notes or numbered PDFs are) and `titled` (8 topics whose file titles echo
the reference outline: easier, kept for comparison). Each topic folder holds `topic.yaml` (topic,
kind), `outline.md` (the reference outline) and `sources/*.md`. All sources of a set go into one
fresh memory (as a user's project would hold them); each topic is one task asking for as many
sections as its reference outline has (at most 6). Prints one table and the targets of issue #19,
then the restater's role evaluation on the held-out seed topics (`scriptorium eval restater`), and
writes bench/results/quality-<set>.json with the date, commit and model.

`--models default,base` runs the batch once per served model (the managed server is restarted
for each: `default` is the shipped paper adapter merged into the bundled model, `base` the bundled
model alone, any other name a registered fine-tune) and prints both tables side by side; the
results file then holds one entry per model under "runs".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from scriptorium import Project
from scriptorium.config import load_settings
from scriptorium.evaluation import evaluate_batch, load_reference
from scriptorium.evaluation.report import batch_table, restater_table
from scriptorium.evaluation.restater import RestaterScores, evaluate_restater
from scriptorium.memory import LocalEmbedder
from scriptorium.serving.server import ManagedServer
from scriptorium.workflows.batch import BatchTask

SETS = Path(__file__).parent / "quality"
RESULTS = Path(__file__).parent / "results"
TARGETS = {  # issue #19, at the default thresholds
    "grounded_share": 0.7,
    "cited_share": 0.9,
    "supported_share": 0.85,
    "heading_soft_recall": 0.55,
}
TIME_LIMIT_S = 15 * 60


async def main(
    names: list[str] | None, concurrency: int, which: str, model: str | None = None
) -> dict[str, Any]:
    commit = _commit()  # the code that runs: a commit made while the batch runs is not it
    work = Path(tempfile.mkdtemp(prefix="scriptorium-quality-"))
    project = Project.open(work, server={"model": model}) if model else Project.open(work)
    settings = project.settings
    endpoint = project.endpoint()
    topics = SETS / which
    folders = [f for f in sorted(topics.iterdir()) if f.is_dir() and (not names or f.name in names)]
    references = {f.name: load_reference(f / "outline.md") for f in folders}
    tasks = [
        BatchTask(
            f.name,
            {
                "topic": yaml.safe_load((f / "topic.yaml").read_text())["topic"],
                "sections": min(6, max(2, len(references[f.name].sections))),
            },
            None,
        )
        for f in folders
    ]
    project.ingest([f / "sources" for f in folders])  # one memory, as a user's project holds it
    started = time.perf_counter()
    outcomes = await project.batch("paper", tasks, work / "batch", concurrency=concurrency)
    batch_s = time.perf_counter() - started
    tokens = project.ledger.total()
    embedder = LocalEmbedder()
    evaluation = evaluate_batch(work / "batch", embedder, settings.eval, references)
    Console().print(batch_table(evaluation))
    summary = evaluation.summary
    papers = [t.paper for t in evaluation.tasks if t.paper is not None]
    checks = {
        "every paper complete": summary.complete == len(tasks),
        "every paper: title, lead, sections asked, closing": summary.structured == len(tasks),
        "every paper >= 350 words": len(papers) == len(tasks)
        and all(p.structure is not None and p.structure.words >= 350 for p in papers),
        "0 invented sentences": summary.invented == 0,
        "0 fact errors": summary.fact_errors == 0,
        "0 dangling citations": summary.dangling == 0,
        "verbatim share <= 0.25": (summary.verbatim_share or 0.0) <= 0.25,
        "repeated share 0": summary.repeated_share == 0,
        **{
            f"{name} >= {target}": (getattr(summary, name) or 0.0) >= target
            for name, target in TARGETS.items()
        },
        f"batch under {TIME_LIMIT_S // 60} min": batch_s < TIME_LIMIT_S,
    }
    table = Table(title=f"issue #19 targets ({which} set, {len(tasks)} topics, batch {batch_s:.0f} s)")
    table.add_column("target")
    table.add_column("met", justify="center")
    for name, met in checks.items():
        table.add_row(name, "yes" if met else "[red]NO[/]")
    Console().print(table)
    restater = await evaluate_restater(project, work / "restater")  # the role beside the papers
    Console().print(restater_table([restater]))
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit,
        "model": endpoint.model,
        "set": which,
        "machine": platform.platform(),
        "batch_dir": str(work / "batch"),
        "batch_s": round(batch_s, 1),
        "failed_tasks": [o.id for o in outcomes if o.status != "succeeded"],
        "prompt_tokens": tokens.prompt_tokens,
        "completion_tokens": tokens.completion_tokens,
        "summary": summary.model_dump(),
        "checks": checks,
        "restater": restater.model_dump(mode="json"),
        "papers": [t.model_dump(mode="json") for t in evaluation.tasks],
    }


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _serve(model: str) -> None:
    """Stop the managed server if it serves another model; the run then starts the one asked for."""
    settings = load_settings(None, server={"model": None if model == "default" else model})
    ManagedServer(settings).stop_if_serving_another()


def _compare(rows: dict[str, dict[str, Any]]) -> None:
    table = Table(title="paper quality by served model")
    table.add_column("measure")
    for name, row in rows.items():
        table.add_column(f"{name} ({row['model']})", justify="right")
    for measure in [*rows[next(iter(rows))]["summary"], "batch_s"]:
        values = [row["summary"].get(measure, row.get(measure)) for row in rows.values()]
        table.add_row(measure, *(f"{v:.3f}" if isinstance(v, float) else str(v) for v in values))
    Console().print(table)
    Console().print(restater_table([RestaterScores.model_validate(row["restater"]) for row in rows.values()]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--topics", help="Comma-separated topic folder names (default: all).")
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--set", dest="which", choices=["neutral", "titled"], default="neutral")
    parser.add_argument("--models", help="Comma-separated served models to compare, e.g. default,base.")
    parser.add_argument("--out", type=Path, help="Results file (default: bench/results/quality-<set>.json).")
    args = parser.parse_args()
    topics = args.topics.split(",") if args.topics else None
    out = args.out or RESULTS / f"quality-{args.which}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.models:
        runs = {}
        for name in args.models.split(","):
            _serve(name)
            runs[name] = asyncio.run(
                main(topics, args.concurrency, args.which, None if name == "default" else name)
            )
        _compare(runs)
        out.write_text(json.dumps({"runs": runs}, indent=2))
    else:
        out.write_text(json.dumps(asyncio.run(main(topics, args.concurrency, args.which)), indent=2))
    print(f"wrote {out}")
