"""`finetune collect`: training rows from finished runs (self-distillation).

Only answers that passed their own checks become rows: the planner's outline of a run that
succeeded; a writer's draft in the round where its review loop ended because the draft was approved
(`until`), and the reviewer's critique of the round before it, since that critique led to an approved
revision. Prompts come back from the run's `trace.jsonl`; an exchange whose text was cut there is
skipped, with a note, because a truncated prompt would teach the wrong thing.

A paper run (one with `outputs/citations.json`) also gives a writer row per sentence of the paper
that its restater wrote and the checks kept (not the marked quotations): the restater's system
message from the trace, its evidence sentence as the prompt, the kept sentence as the answer. These
are the rows the shipped paper adapter was trained on, from papers a user kept.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..events.models import TRACE_TEXT_LIMIT, LoopEnded, ModelRequest, ModelResponse
from ..events.trace import read_trace
from ..workflows.run_folder import RunFolderError, read_run_summary
from .dataset import ROLES, ChatMessage, TrainingExample

__all__ = ["CollectReport", "collect_runs"]

_ROUND = re.compile(r"^(?P<loop>.+)\.r(?P<round>\d+)\.[^.]+$")


@dataclass
class CollectReport:
    examples: list[TrainingExample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return dict(Counter(example.role for example in self.examples))


@dataclass(frozen=True)
class _Exchange:
    step_id: str
    agent: str
    messages: list[dict[str, str]]
    answer: str


def _run_folders(paths: Iterable[Path]) -> list[Path]:
    """Run folders as given, and the task folders of any batch folder among them."""
    found: list[Path] = []
    for path in paths:
        if (path / "tasks").is_dir() and not (path / "trace.jsonl").is_file():
            found.extend(sorted(child for child in (path / "tasks").iterdir() if child.is_dir()))
        else:
            found.append(path)
    return found


def _exchanges(trace: Path) -> tuple[list[_Exchange], dict[str, LoopEnded]]:
    requests: dict[str, ModelRequest] = {}
    exchanges: list[_Exchange] = []
    loops: dict[str, LoopEnded] = {}
    for event in read_trace(trace):
        if isinstance(event, ModelRequest):
            requests[event.request_id] = event
        elif isinstance(event, ModelResponse) and event.finish_reason == "stop":
            request = requests.pop(event.request_id, None)
            if request is not None and request.agent and request.step_id:
                exchanges.append(_Exchange(request.step_id, request.agent, request.messages, event.text))
        elif isinstance(event, LoopEnded) and event.step_id:
            loops[event.step_id] = event
    return exchanges, loops


def _approved(exchanges: list[_Exchange], loops: dict[str, LoopEnded]) -> list[_Exchange]:
    """The exchanges worth learning from (see the module's docstring); the last one per step."""
    last_per_step = {exchange.step_id: exchange for exchange in exchanges}
    kept = []
    for exchange in last_per_step.values():
        if exchange.agent == "planner":
            kept.append(exchange)
            continue
        match = _ROUND.match(exchange.step_id)
        if match is None:
            continue
        loop = loops.get(match["loop"])
        if loop is None or loop.reason != "until":
            continue
        round_no = int(match["round"])
        if (exchange.agent == "writer" and round_no == loop.rounds) or (
            exchange.agent == "reviewer" and round_no == loop.rounds - 1
        ):
            kept.append(exchange)
    return kept


def _example(run: Path, exchange: _Exchange) -> TrainingExample | str:
    texts = [message.get("content", "") for message in exchange.messages] + [exchange.answer]
    if any(len(text) >= TRACE_TEXT_LIMIT for text in texts):
        return f"{run.name}/{exchange.step_id}: the trace holds a cut message; skipped"
    if exchange.agent not in ROLES:
        return f"{run.name}/{exchange.step_id}: agent '{exchange.agent}' is not a trained role; skipped"
    try:
        messages = [ChatMessage.model_validate(message) for message in exchange.messages]
        return TrainingExample(
            role=exchange.agent,
            messages=[*messages, ChatMessage(role="assistant", content=exchange.answer)],
            source=f"run:{run.name}/{exchange.step_id}",
        )
    except ValueError as exc:
        return f"{run.name}/{exchange.step_id}: not a usable chat ({exc}); skipped"


def _paper_rows(run: Path, exchanges: list[_Exchange], report: CollectReport) -> None:
    """Writer rows from the sentences a paper run's restater wrote and its checks kept, each with
    the exact prompt that restater request carried (read back from the trace)."""
    citations = run / "outputs" / "citations.json"
    if not citations.is_file():
        return
    prompts = {
        e.messages[-1].get("content", "").strip(): e.messages
        for e in exchanges
        if e.agent == "restater"
        and e.messages
        and all(len(m.get("content", "")) < TRACE_TEXT_LIMIT for m in e.messages)
    }
    try:
        sentences = json.loads(citations.read_text(encoding="utf-8"))["sentences"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        report.notes.append(f"{run.name}: outputs/citations.json is unreadable ({exc}); skipped")
        return
    missing = 0
    for n, sentence in enumerate(sentences):
        if sentence.get("quote") or not sentence.get("evidence") or not sentence.get("text"):
            continue
        messages = prompts.get(f"Sentence: {sentence['evidence']}")
        if messages is None:
            missing += 1
            continue
        report.examples.append(
            TrainingExample(
                role="writer",
                messages=[
                    *(ChatMessage.model_validate(m) for m in messages),
                    ChatMessage(role="assistant", content=json.dumps({"sentence": sentence["text"]})),
                ],
                source=f"run:{run.name}/paper/{n}",
            )
        )
    if missing:
        report.notes.append(
            f"{run.name}: {missing} kept sentences have no whole restater prompt in the trace"
        )


def collect_runs(paths: Iterable[Path]) -> CollectReport:
    report = CollectReport()
    for run in _run_folders(paths):
        trace = run / "trace.jsonl"
        if not trace.is_file():
            report.notes.append(f"{run}: no trace.jsonl; skipped")
            continue
        try:
            recorded = read_run_summary(run)
        except RunFolderError as exc:
            report.notes.append(f"{exc.message}; skipped")
            continue
        status = recorded.status if recorded else None
        if status != "succeeded":
            report.notes.append(f"{run}: run status {status or 'unknown'}; only succeeded runs are used")
            continue
        exchanges, loops = _exchanges(trace)
        _paper_rows(run, exchanges, report)
        for exchange in _approved(exchanges, loops):
            outcome = _example(run, exchange)
            if isinstance(outcome, str):
                report.notes.append(outcome)
            else:
                report.examples.append(outcome)
    return report
