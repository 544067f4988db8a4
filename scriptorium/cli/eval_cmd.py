"""`scriptorium eval`: measure papers from their run folders (nothing in them is changed)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from pydantic import SecretStr
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from ..errors import EndpointError
from ..evaluation import evaluate_batch, evaluate_paper, load_paper, load_reference
from ..evaluation.batch import TaskEval
from ..evaluation.corpus import CorpusStores
from ..evaluation.judge import JudgeError, judge_paper
from ..evaluation.paper import EvaluationError
from ..evaluation.reference import ReferenceOutline
from ..evaluation.report import batch_table, judge_table, paper_report, restater_table, roles_table
from ..evaluation.report_file import BatchReport, PaperReport, write_eval
from ..evaluation.restater import RestaterScores, evaluate_restater, heldout_topics
from ..evaluation.roles import RoleScores, RolesReport, compare_roles, heldout_losses, loss_entry
from ..fileio import write_json_atomic
from ..finetune.dataset import seed_dataset
from ..finetune.registry import ModelRegistry
from ..memory import LocalEmbedder
from ..project import Project
from ..serving.endpoint import first_model
from ..workflows.batch import read_manifest
from ._common import connect, console, settings_from

eval_app = typer.Typer(
    help="Measure paper quality: citations, support, grounding, coverage.", no_args_is_help=True
)

_REFERENCE_SUFFIXES = (".md", ".yaml", ".yml", ".json")


def register(app: typer.Typer) -> None:
    app.add_typer(eval_app, name="eval")


@eval_app.command("paper")
def paper(
    ctx: typer.Context,
    run_dir: Annotated[Path, typer.Argument(help="A paper run folder.")],
    reference: Annotated[
        Path | None, typer.Option(help="Reference outline (Markdown ## headings, or YAML/JSON).", exists=True)
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("eval.json"),
    judge: Annotated[
        str | None,
        typer.Option(
            help="Also run Ragas (faithfulness, answer relevancy, context precision) with the model at "
            "this OpenAI-compatible URL (…/v1); model and key from [eval] judge_model/judge_api_key."
        ),
    ] = None,
) -> None:
    """Completeness, citations, support, grounding, coverage, repetition and drift of one paper."""
    settings = settings_from(ctx)
    outline = load_reference(reference) if reference else None
    data = load_paper(run_dir)
    embedder = LocalEmbedder()
    with console.status("embedding and scoring…"), CorpusStores(embedder) as stores:
        result = evaluate_paper(
            run_dir,
            embedder,
            stores.search_for(data, run_dir),
            settings.eval,
            reference=outline,
            paper=data,
            copies=stores.copies_for(data, run_dir),
        )
    console.print(paper_report(result))
    report = PaperReport.model_validate(result.model_dump())
    if judge is not None:
        key = settings.eval.judge_api_key or SecretStr("EMPTY")
        model = settings.eval.judge_model or _judge_model(judge.rstrip("/"), key)
        with console.status(f"asking the judge ({model} at {judge})…"):
            verdict = asyncio.run(
                judge_paper(data, base_url=judge.rstrip("/"), api_key=key, model=model, embedder=embedder)
            )
        console.print(judge_table(verdict))
        report.judge = verdict
    write_eval(out, report)
    console.print(f"[dim]wrote {out}[/]")


@eval_app.command("batch")
def batch(
    ctx: typer.Context,
    batch_dir: Annotated[Path, typer.Argument(help="A batch folder (made by `scriptorium batch`).")],
    references: Annotated[
        Path | None,
        typer.Option(
            help="Folder of reference outlines named after the tasks (<task id>.md/.yaml/.json).",
            exists=True,
            file_okay=False,
        ),
    ] = None,
    out: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("eval.json"),
) -> None:
    """Every paper of a batch, and the batch's means."""
    settings = settings_from(ctx)
    _, tasks = read_manifest(batch_dir)
    outlines = _references(references, [t.id for t in tasks]) if references else {}
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        bar = progress.add_task("evaluating papers", total=len(tasks))

        def advance(task: TaskEval) -> None:
            progress.update(bar, advance=1, description=f"evaluated {task.task}")

        result = evaluate_batch(batch_dir, LocalEmbedder(), settings.eval, outlines, on_task=advance)
    console.print(batch_table(result))
    write_eval(out, BatchReport.model_validate(result.model_dump()))
    console.print(f"[dim]wrote {out}[/]")


def _references(folder: Path, task_ids: list[str]) -> dict[str, ReferenceOutline]:
    found = {}
    for task_id in task_ids:
        for suffix in _REFERENCE_SUFFIXES:
            if (folder / f"{task_id}{suffix}").is_file():
                found[task_id] = load_reference(folder / f"{task_id}{suffix}")
                break
    if not found:
        raise EvaluationError(
            f"no reference outline in {folder} is named after a task of this batch",
            hint=f"name them after the task ids, e.g. {task_ids[0] if task_ids else 't1'}.md",
        )
    return found


@eval_app.command("roles")
def roles(
    ctx: typer.Context,
    model: Annotated[str, typer.Option("--model", help="A registered fine-tune.")],
    limit: Annotated[int | None, typer.Option(help="At most this many held-out rows per role.")] = None,
    loss: Annotated[bool, typer.Option("--loss/--no-loss", help="Also compute held-out loss (CPU).")] = True,
    out: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("eval-roles.json"),
) -> None:
    """A fine-tune beside its base on the held-out seed rows: JSON validity, citations, loss."""
    settings = settings_from(ctx, server={"adapters": [model]})
    registry = ModelRegistry.of(settings)
    record = registry.get(model)
    examples = {role: seed_dataset((role,), "heldout").examples[:limit] for role in record.roles}
    project = Project(settings)
    endpoint = connect(project)
    total = 2 * sum(len(rows) for rows in examples.values())

    async def ask_both() -> list[RoleScores]:
        async with project.client() as client:
            served = {entry.id for entry in await client.models()}
            missing = [name for name in (endpoint.model, model) if name not in served]
            if missing:
                serving = ", ".join(sorted(served))
                raise EvaluationError(
                    f"{endpoint.base_url} does not serve {', '.join(missing)} (it serves {serving})",
                    hint=f"restart the server with the adapter: `scriptorium serve --stop`, then "
                    f"`scriptorium serve --detach --lora {model}`",
                )
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
            ) as progress:
                bar = progress.add_task(f"{endpoint.model} and {model} answering", total=total)
                return await compare_roles(
                    client, endpoint.model, model, examples, lambda: progress.advance(bar)
                )

    scores = asyncio.run(ask_both())
    losses: dict[str, dict[str, float]] = {}
    if loss:
        rows = [row for role_rows in examples.values() for row in role_rows]
        with console.status("held-out loss of both models (CPU)…"):
            base_loss, tuned_loss = heldout_losses(Path(record.base_path), Path(record.adapter_path), rows)
        losses = {endpoint.model: loss_entry(base_loss), model: loss_entry(tuned_loss)}
    report = RolesReport(endpoint.model, model, scores, losses)
    console.print(roles_table(report))
    saved = report.as_json()
    write_json_atomic(out, saved)
    registry.update_metrics(model, {"eval_roles": saved})
    console.print(f"[dim]wrote {out}; recorded in the registry under {model}[/]")


@eval_app.command("restater")
def restater(
    ctx: typer.Context,
    topics: Annotated[
        str | None, typer.Option(help="Comma-separated held-out topics (default: all four).")
    ] = None,
    sections: Annotated[int, typer.Option(min=2, max=6, help="Body sections to plan per topic.")] = 4,
    out: Annotated[Path, typer.Option(help="Where to write the JSON report.")] = Path("eval-restater.json"),
) -> None:
    """The served model as the paper's writer, on topics no fine-tune of ours trained on: one
    writing round of the paper workflow, every answer judged by the paper's own checks."""
    chosen = topics.split(",") if topics else None
    heldout_topics(chosen)  # a topic trained on is refused before a server is started
    project = Project(settings_from(ctx))
    scores = measure_restater(project, chosen, sections=sections)
    console.print(restater_table([scores]))
    saved = scores.model_dump(mode="json")
    write_json_atomic(out, saved)
    registry = ModelRegistry.of(project.settings)
    note = ""
    if scores.model in registry:  # the served model's name: a fine-tune served merged is served as itself
        registry.update_metrics(scores.model, {"eval_restater": saved})
        note = f"; recorded in the registry under {scores.model}"
    console.print(f"[dim]wrote {out}{note}[/]")


def measure_restater(project: Project, topics: list[str] | None, *, sections: int = 4) -> RestaterScores:
    """`evaluate_restater` on the project's endpoint (started if need be), shown as it works."""
    endpoint = connect(project)
    with (
        tempfile.TemporaryDirectory(prefix="scriptorium-eval-restater-") as work,
        console.status(f"{endpoint.model} restating the held-out topics' evidence…"),
    ):
        return asyncio.run(evaluate_restater(project, Path(work), topics, sections=sections))


def _judge_model(base_url: str, key: SecretStr) -> str:
    """The judge endpoint's first model; checking it also checks the endpoint answers."""
    try:
        return first_model(base_url, key)
    except EndpointError as exc:
        raise JudgeError(
            f"the judge at {base_url} did not list its models: {exc.message}",
            hint="give an OpenAI-compatible base URL ending in /v1; set [eval] judge_api_key "
            "(SCRIPTORIUM_EVAL__JUDGE_API_KEY) if it needs a key",
        ) from exc
