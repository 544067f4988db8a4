"""Tables of evaluations, for the terminal."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, RenderableType
from rich.table import Table

from .batch import BatchEval
from .judge import JudgeReport
from .restater import RestaterScores
from .roles import RolesReport
from .scoring import PaperEval

__all__ = ["batch_table", "paper_report"]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def paper_report(result: PaperEval, *, details: int = 5) -> RenderableType:
    t = result.thresholds
    table = Table(title=f"{result.title}  [dim]({result.run_dir})[/]", show_header=False)
    table.add_column("metric", style="bold")
    table.add_column("value", justify="right")
    table.add_column("what it counts", style="dim")
    rows = [
        (
            "sections written",
            f"{result.sections_written}/{result.sections_planned}",
            "planned in the outline",
        ),
        ("empty / truncated", f"{len(result.empty_sections)} / {len(result.truncated_sections)}", ""),
        ("sentences", str(result.sentences), "3 words or more"),
        ("citations", str(result.citations), f"{len(result.dangling)} dangling"),
        ("cited share", _pct(result.cited_share), "sentences carrying a resolved citation"),
        (
            "supported",
            _pct(result.supported_share),
            f"cited sentences with cosine >= {t.support_threshold} to a cited chunk",
        ),
        (
            "grounded",
            _pct(result.grounded_share),
            f"sentences with cosine >= {t.grounding_threshold} to a corpus sentence",
        ),
        ("heading soft recall", _pct(result.heading_soft_recall), "vs the reference outline"),
        (
            "repeated",
            _pct(result.repeated_share),
            f"sentences in a pair with cosine >= {t.duplicate_threshold}",
        ),
        (
            "topic similarity",
            _pct(result.topic_similarity_mean),
            f"{len(result.drifting_sections)} sections below {t.drift_threshold}",
        ),
        ("fact errors", str(len(result.fact_errors)), "names, numbers, dates not in the cited chunks"),
        ("invented", str(len(result.invented)), "sentences uncited or unsupported"),
        (
            "verbatim share",
            _pct(result.verbatim_share),
            f"sentences copied from the corpus ({result.quotes} marked as quotations)",
        ),
    ]
    if result.structure is not None:
        s = result.structure
        rows += [
            ("words", str(s.words), ""),
            ("title", "ok" if s.title_names_topic else "no", "names the topic and is no section heading"),
            (
                "lead / closing",
                f"{s.lead_sentences} / {'yes' if s.closing else 'no'}",
                "lead sentences; closing",
            ),
            ("body sections", f"{s.body_sections}/{s.sections_asked or '?'}", "written / asked"),
        ]
    for row in rows:
        table.add_row(*row)
    parts: list[RenderableType] = [table]
    lists: list[tuple[str, list[str]]] = [
        ("dangling citation keys", result.dangling),
        ("empty sections", result.empty_sections),
        ("truncated sections", result.truncated_sections),
        (
            "unsupported sentences",
            [f"{u.score:.2f} [{', '.join(u.keys)}] {u.sentence}" for u in result.unsupported],
        ),
        ("ungrounded sentences", [f"{u.score:.2f} {u.sentence}" for u in result.ungrounded]),
        ("drifting sections", result.drifting_sections),
        (
            "near-duplicate sentences",
            [f"{d.score:.2f} {d.first} | {d.second}" for d in result.near_duplicates],
        ),
    ]
    for label, items in lists:
        if items:
            listing = Table(
                title=f"{label} ({len(items)})", show_header=False, title_justify="left", box=None
            )
            listing.add_column(overflow="fold")
            for item in items[:details]:
                listing.add_row(item)
            if len(items) > details:
                listing.add_row(f"[dim]… {len(items) - details} more in the JSON report[/]")
            parts.append(listing)
    return Group(*parts)


def batch_table(result: BatchEval) -> Table:
    table = Table(title=f"paper quality  [dim]({result.batch_dir})[/]")
    for column in (
        "task",
        "complete",
        "dangling",
        "cited",
        "supported",
        "grounded",
        "recall",
        "repeated",
        "topic sim.",
    ):
        table.add_column(column, justify="left" if column == "task" else "right")
    for task in result.tasks:
        p = task.paper
        if p is None:
            table.add_row(task.task, f"[red]{task.error}[/]", *[""] * 7)
            continue
        table.add_row(
            task.task,
            "yes" if p.complete else "[red]no[/]",
            str(len(p.dangling)),
            _pct(p.cited_share),
            _pct(p.supported_share),
            _pct(p.grounded_share),
            _pct(p.heading_soft_recall),
            _pct(p.repeated_share),
            _pct(p.topic_similarity_mean),
        )
    s = result.summary
    table.add_section()
    table.add_row(
        f"[bold]all ({s.evaluated}/{s.papers})[/]",
        f"{s.complete}/{s.papers}",
        str(s.dangling),
        _pct(s.cited_share),
        _pct(s.supported_share),
        _pct(s.grounded_share),
        _pct(s.heading_soft_recall),
        _pct(s.repeated_share),
        _pct(s.topic_similarity),
    )
    return table


def roles_table(report: RolesReport) -> Table:
    """One row per role and metric: base, tuned, and the difference."""
    table = Table(
        "role", "metric", report.base, report.tuned, "change", title="held-out rows, no guided decoding"
    )
    by_role: dict[str, dict[str, dict[str, float]]] = {}
    for score in report.scores:
        by_role.setdefault(score.role, {})[score.model] = score.metrics
    for role, models in by_role.items():
        base, tuned = models.get(report.base, {}), models.get(report.tuned, {})
        for metric in base:
            change = tuned.get(metric, 0.0) - base[metric]
            colour = "green" if change > 0 else "red" if change < 0 else "dim"
            table.add_row(
                role,
                metric,
                _pct(base[metric]),
                _pct(tuned.get(metric)),
                f"[{colour}]{change * 100:+.0f} pts[/]",
            )
    base_loss, tuned_loss = report.losses.get(report.base), report.losses.get(report.tuned)
    if base_loss and tuned_loss:
        for metric in ("loss", "perplexity"):
            change = tuned_loss[metric] - base_loss[metric]
            colour = "green" if change < 0 else "red" if change > 0 else "dim"
            shown = f"[{colour}]{change:+.3f}[/]"
            table.add_row(
                "all", f"held-out {metric}", f"{base_loss[metric]:.3f}", f"{tuned_loss[metric]:.3f}", shown
            )
    return table


def judge_table(report: JudgeReport) -> Table:
    """Ragas' means, and how many sections the judge actually scored for each."""
    table = Table("metric", "mean", "sections judged", title=f"judge: {report.model}")
    total = len(report.samples)
    for name, mean in report.means.items():
        table.add_row(name.replace("_", " "), _pct(mean), f"{report.judged[name]}/{total}")
    return table


def restater_table(scores: Sequence[RestaterScores]) -> Table:
    """The restater's scores, one column per served model (the first is what the others are
    compared with), on the held-out topics."""
    first = scores[0]
    table = Table(
        "measure",
        *(score.model for score in scores),
        title=f"restater on held-out topics ({', '.join(first.topics)}): one writing round",
    )
    reasons = list(dict.fromkeys(reason for score in scores for reason in score.failures))
    rows: list[tuple[str, list[str]]] = [
        ("evidence items / distinct answers", [f"{s.items} / {s.answers}" for s in scores]),
        ("items restated (an answer kept)", [_pct(s.items_restated) for s in scores]),
        ("answers kept", [_pct(s.answers_kept) for s in scores]),
        *(
            (f"  refused: {reason}", [_pct(s.failures.get(reason, 0.0)) for s in scores])
            for reason in reasons
        ),
        ("closeness of kept to evidence", [_pct(s.closeness) for s in scores]),
        (
            "completion tokens per restated item",
            [
                "-" if s.tokens_per_restated_item is None else f"{s.tokens_per_restated_item:.0f}"
                for s in scores
            ],
        ),
    ]
    for name, values in rows:
        table.add_row(name, *values)
    return table
