"""`scriptorium finetune` (train a LoRA fine-tune per role), `finetune collect`, and `scriptorium models`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..config import CONFIG_FILE_NAME, Settings, find_config_file
from ..config_edit import set_table_key
from ..errors import ConfigError, FineTuneError
from ..evaluation.report import restater_table
from ..evaluation.restater import RestaterScores, heldout_topics
from ..finetune.collect import CollectReport, collect_runs
from ..finetune.dataset import ROLES, Role, TrainingExample, write_jsonl
from ..finetune.registry import ModelRegistry
from ..finetune.restater_set import RESTATER_RECIPE, restater_rows
from ..finetune.service import BUNDLED, FineTunePlan, plan_finetune, run_finetune
from ..finetune.train import LoraRecipe
from ..project import Project
from ..serving.models import BundledModel, bundled_model
from ..serving.server import ManagedServer, served_model
from ..serving.shipped import BASE, Provenance, shipped_provenance
from ._common import console, settings_from
from .eval_cmd import measure_restater

finetune_app = typer.Typer(
    help="Fine-tune the served model per role with LoRA; the result is registered and servable.",
    invoke_without_command=True,
)
models_app = typer.Typer(help="The models Scriptorium serves: shipped and fine-tuned.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(finetune_app, name="finetune")
    app.add_typer(models_app, name="models")


@finetune_app.callback()
def finetune(
    ctx: typer.Context,
    role: Annotated[
        Literal["planner", "writer", "reviewer", "all"], typer.Option(help="Whose examples to train on.")
    ] = "all",
    out: Annotated[str | None, typer.Option("--out", help="Name of the fine-tune (registry name).")] = None,
    base: Annotated[
        str, typer.Option(help="`bundled`, a registered fine-tune, or a model folder.")
    ] = BUNDLED,
    data: Annotated[
        list[Path] | None, typer.Option("--data", help="More JSONL rows (repeatable), e.g. from `collect`.")
    ] = None,
    no_seed: Annotated[bool, typer.Option("--no-seed", help="Train on --data only.")] = False,
    paper: Annotated[
        bool,
        typer.Option(
            "--paper",
            help="The shipped paper adapter's recipe: the writer (restater) on the checked pairs that "
            "ship with Scriptorium, no seed rows, 2 epochs, at most 120 steps; add kept papers with --runs.",
        ),
    ] = False,
    runs: Annotated[
        list[Path] | None,
        typer.Option(
            "--runs", help="Run or batch folders of papers you kept (repeatable): their rows are added."
        ),
    ] = None,
    r: Annotated[int | None, typer.Option("--r", help="LoRA rank.")] = None,
    alpha: Annotated[int | None, typer.Option(help="LoRA alpha.")] = None,
    dropout: Annotated[float | None, typer.Option(help="LoRA dropout.")] = None,
    target_modules: Annotated[
        str | None, typer.Option(help="Comma-separated module names to adapt, e.g. q_proj,v_proj.")
    ] = None,
    top_layers: Annotated[int | None, typer.Option(help="Adapt only the last N layers (0: all).")] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="At most this many optimizer steps.")] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the rows (capped by --steps).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per step.")] = None,
    grad_accum: Annotated[int | None, typer.Option(help="Gradient accumulation.")] = None,
    max_length: Annotated[
        int | None, typer.Option(help="Longest row in tokens (longer ones skipped).")
    ] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Learning rate.")] = None,
    save_every: Annotated[int | None, typer.Option(help="Checkpoint every N steps.")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    no_merge: Annotated[bool, typer.Option("--no-merge", help="Keep the adapter only.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace a registered fine-tune of that name.")
    ] = False,
) -> None:
    """Train a LoRA adapter on the shipped seed examples (and yours), merge it, and register both.

    Rerunning the same command after an interruption resumes from its last checkpoint.
    """
    if ctx.invoked_subcommand is not None:
        return
    if out is None:
        raise typer.BadParameter("name the fine-tune with --out NAME", param_hint="--out")
    settings = settings_from(ctx)
    values = {
        "r": r,
        "alpha": alpha,
        "dropout": dropout,
        "target_modules": target_modules.split(",") if target_modules else None,
        "top_layers": top_layers,
        "max_steps": steps,
        "epochs": epochs,
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "max_length": max_length,
        "learning_rate": lr,
        "save_every": save_every,
        "seed": seed,
    }
    given: dict[str, object] = {name: value for name, value in values.items() if value is not None}
    if given.get("top_layers") == 0:
        given["top_layers"] = None  # 0 on the command line: adapt every layer
    if paper and role not in ("all", "writer"):
        raise typer.BadParameter("--paper trains the writer (the restater) only", param_hint="--role")
    if paper:
        given = {**RESTATER_RECIPE, **given}
    recipe = LoraRecipe.model_validate(given)
    roles: tuple[Role, ...] = ("writer",) if paper else ROLES if role == "all" else (role,)
    plan = plan_finetune(
        settings,
        name=out,
        roles=roles,
        base=base,
        data_files=data or (),
        examples=_built_rows(paper=paper, runs=runs or []),
        use_seed=not (no_seed or paper),
        recipe=recipe,
        replace=force,
    )
    _train(settings, plan, merge=not no_merge)


def _built_rows(*, paper: bool, runs: list[Path]) -> list[TrainingExample]:
    """The rows `--paper` and `--runs` add: the checked restater pairs, then your kept papers'."""
    rows: list[TrainingExample] = []
    if paper:
        with console.status("checking the shipped restater pairs…"):
            rows, dropped = restater_rows()
        console.print(f"{len(rows)} restater rows from the shipped pairs ({dropped} fail the checks)")
    if runs:
        report = _collected(runs, notes=10)
        if not report.examples:
            raise FineTuneError(
                f"no training rows in {', '.join(map(str, runs))}",
                hint="give finished paper runs (or batch folders) whose trace.jsonl is there",
            )
        rows += report.examples
        console.print(f"{len(report.examples)} rows from your runs ({_counted(report.counts())})")
    return rows


def _collected(runs: list[Path], *, notes: int) -> CollectReport:
    """`collect_runs`, showing its first `notes` notes (runs skipped, exchanges cut)."""
    report = collect_runs(runs)
    for note in report.notes[:notes]:
        console.print(f"[dim]{note}[/]")
    return report


def _counted(counts: dict[str, int]) -> str:
    """ "3 planner, 5 writer": rows by role, in name order."""
    return ", ".join(f"{n} {role}" for role, n in sorted(counts.items())) or "none"


def _train(settings: Settings, plan: FineTunePlan, *, merge: bool) -> None:
    recipe, out = plan.recipe, plan.name
    for problem in plan.data.problems[:10]:
        console.print(f"[yellow]skipped[/] {problem}", soft_wrap=True)
    if plan.data.problems:
        console.print(f"[yellow]{len(plan.data.problems)} malformed rows skipped[/]")
    console.print(f"training [bold]{out}[/] on {_counted(plan.data.counts())} rows over {plan.base_path}")
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("training", total=None, loss="-")

        def on_step(step: int, total: int, loss: float | None) -> None:
            progress.update(
                task, completed=step, total=total, loss=f"{loss:.3f}" if loss is not None else "-"
            )

        try:
            record, outcome = run_finetune(settings, plan, on_step, merge=merge)
        except KeyboardInterrupt:
            progress.stop()
            console.print(f"interrupted; the same command resumes from the last checkpoint in {plan.out_dir}")
            raise typer.Exit(130) from None
    if outcome.resumed_from:
        console.print(f"[dim]resumed from step {outcome.resumed_from}[/]")
    if outcome.skipped_too_long:
        console.print(
            f"[yellow]{outcome.skipped_too_long} rows longer than {recipe.max_length} tokens skipped[/]"
        )
    console.print(
        f"registered [bold]{record.name}[/]: {outcome.steps} steps in {outcome.seconds / 60:.1f} min, "
        f"final loss {outcome.final_loss:.3f}"
        if outcome.final_loss is not None
        else ""
    )
    console.print(f"  adapter {record.adapter_path}")
    if record.merged_path:
        console.print(f"  merged  {record.merged_path}")
    console.print(
        f"measure it beside the served model and make it the default: "
        f"`scriptorium models use {record.name}`; "
        f"or serve it yourself: `scriptorium serve --model {record.name}` (merged), "
        f"`--lora {record.name}` (adapter over the base)",
        soft_wrap=True,
    )


@finetune_app.command("collect")
def collect(
    runs: Annotated[list[Path], typer.Argument(help="Run folders (or batch folders) to learn from.")],
    out: Annotated[Path, typer.Option(help="JSONL file to write.")] = Path("collected.jsonl"),
) -> None:
    """Turn reviewer-approved steps of past runs into training rows (self-distillation)."""
    report = _collected(runs, notes=20)
    written = write_jsonl(out, report.examples)
    console.print(f"wrote {written} rows ({_counted(report.counts())}) to {out}")
    if not written:
        raise typer.Exit(1)


@models_app.command("list")
def list_models(ctx: typer.Context) -> None:
    """The bundled base, the shipped paper adapter (served by default) and registered fine-tunes."""
    settings = settings_from(ctx)
    console.print(_shipped_table(settings, shipped_provenance(), bundled_model()))
    registry = ModelRegistry.of(settings)
    records = registry.list()
    if not records:
        console.print(f"no fine-tunes registered in {registry.path}")
        return
    table = Table("name", "base", "roles", "rows", "rank", "train loss", "created", title="registered")
    for record in records:
        loss = record.metrics.get("train_loss")
        table.add_row(
            record.name,
            record.base,
            ",".join(record.roles),
            str(record.examples),
            str(record.lora_rank),
            f"{loss:.3f}" if isinstance(loss, float) else "-",
            record.created_at.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def _shipped_table(settings: Settings, shipped: Provenance, base: BundledModel) -> Table:
    table = Table("name", "served", "what", "provenance", title="shipped")
    default = settings.server.model is None and settings.server.model_path is None
    table.add_row(
        "base",
        "with --model base" if default else "yes" if settings.server.model == BASE else "",
        f"{shipped.base_model} ({base.gguf.name})",
        f"sha256 {base.sha256[:12]}",
    )
    table.add_row(
        shipped.name,
        "default" if default else "",
        f"LoRA for the {', '.join(shipped.roles)}, merged into base at first use",
        f"base {shipped.base_sha256[:12]}, data {shipped.data_hash[:12]} ({shipped.rows} rows), "
        f"commit {shipped.commit}; " + ", ".join(f"{k} {v}" for k, v in shipped.metrics.items()),
    )
    return table


DEFAULT = "default"
USE_NOISE = 0.05
"""How far one model's share of items restated moves between two evaluations (sampled answers):
a candidate this much below the current model is not made the default without --force."""


@models_app.command("use")
def use_model(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="`default` (the shipped paper model), `base`, or a fine-tune.")],
    topics: Annotated[
        str | None, typer.Option(help="Comma-separated held-out topics to measure on (default: all four).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Use it even if it measures worse.")] = False,
) -> None:
    """Make NAME the model this project serves, after measuring it beside the current one.

    Both are served in turn by the managed server and evaluated as the paper's writer on the
    held-out topics (`scriptorium eval restater`); the table is printed before anything changes.
    """
    settings = settings_from(ctx)
    if settings.endpoint_urls:
        raise ConfigError(
            f"this project uses the server at {settings.endpoint_urls[0]}; `models use` switches the "
            "managed server",
            hint="serve the model there yourself, or unset base_url and endpoints",
        )
    if settings.server.model_path is not None:
        raise ConfigError(
            f"server.model_path is set ({settings.server.model_path}): the project serves that folder",
            hint="`models use` chooses among default, base and registered fine-tunes; unset "
            "server.model_path first",
        )
    chosen = topics.split(",") if topics else None
    heldout_topics(chosen)
    wanted = None if name in (DEFAULT, shipped_provenance().name) else name
    if settings.server.model == wanted:
        console.print(f"{name} is already this project's served model")
        return
    candidate = settings.model_copy(update={"server": settings.server.model_copy(update={"model": wanted})})
    served_model(candidate)  # an unknown or unmerged name is refused before a server is stopped
    scores = [_measure(each, chosen) for each in (settings, candidate)]
    console.print(restater_table(scores))
    current, new = scores
    registry = ModelRegistry.of(settings)
    if wanted is not None and wanted in registry:
        registry.update_metrics(wanted, {"eval_restater": new.model_dump(mode="json")})
    if new.items_restated < current.items_restated - USE_NOISE and not force:
        ManagedServer(settings).stop_if_serving_another()  # the next run starts the kept model
        console.print(
            f"[red]kept {current.model}:[/] {new.model} restated {new.items_restated:.0%} of the "
            f"held-out items against {current.items_restated:.0%}; `--force` uses it anyway"
        )
        raise typer.Exit(1)
    config = (ctx.obj or {}).get("config") or find_config_file(settings.project_dir)
    path = Path(config) if config else settings.project_dir / CONFIG_FILE_NAME
    set_table_key(path, "server", "model", wanted)
    console.print(f"{new.model} is now the served model (server.model in {path})", soft_wrap=True)
    if os.environ.get("SCRIPTORIUM_SERVER__MODEL"):
        console.print("[yellow]SCRIPTORIUM_SERVER__MODEL is set and wins over the file[/]")


def _measure(settings: Settings, topics: list[str] | None) -> RestaterScores:
    """Serve `settings`' model (switching the managed server if it serves another) and evaluate it."""
    ManagedServer(settings).stop_if_serving_another()
    return measure_restater(Project(settings), topics)


@models_app.command("show")
def show_model(ctx: typer.Context, name: str) -> None:
    """Everything recorded about one fine-tune, as JSON."""
    record = ModelRegistry.of(settings_from(ctx)).get(name)
    console.print_json(record.model_dump_json())


@models_app.command("remove")
def remove_model(ctx: typer.Context, name: str) -> None:
    """Forget a fine-tune and delete its files."""
    record = ModelRegistry.of(settings_from(ctx)).remove(name)
    console.print(f"removed {record.name}")
