"""`eval paper --judge URL`: Ragas metrics from a capable OpenAI-compatible model, for users who have one.

Each section is one sample: the question is the topic and the section's heading, the answer is the
section's text (citation markers stripped), the contexts are the chunks the section cites. Three
Ragas metrics, from its `metrics.collections` API, each sample scored concurrently:

- faithfulness: the share of the answer's claims the contexts support (judge LLM);
- answer relevancy: how well questions generated back from the answer match the question (judge
  LLM, and the local MiniLM embeddings: nothing is downloaded);
- context precision: whether the cited contexts are useful for the answer (judge LLM).

A sample the judge cannot score (unparseable output, timeout) counts as unjudged, never as 0.
Ragas' usage analytics are switched off before it is imported, and LangSmith tracing is never on.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel, SecretStr

from ..errors import ScriptoriumError
from ..memory import LocalEmbedder
from ..text import strip_markers
from .paper import PaperData

__all__ = ["JUDGE_METRICS", "JudgeError", "JudgeReport", "JudgeSample", "judge_paper"]

JUDGE_METRICS = ("faithfulness", "answer_relevancy", "context_precision")


class JudgeError(ScriptoriumError):
    """The judge could not be set up or reached."""


class JudgeSample(BaseModel):
    section: str
    scores: dict[str, float | None]
    """None where the judge gave no usable verdict."""
    errors: dict[str, str] = {}


class JudgeReport(BaseModel):
    model: str
    base_url: str
    means: dict[str, float | None]
    judged: dict[str, int]
    samples: list[JudgeSample]


def _quiet_ragas() -> None:
    # Before the first import of ragas: it posts usage analytics unless told not to.
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    os.environ["LANGCHAIN_TRACING_V2"] = "false"
    os.environ["LANGSMITH_TRACING"] = "false"


class _MiniLM:
    """The local embedder behind Ragas' embedding interface (built lazily: ragas is optional)."""

    @staticmethod
    def make(embedder: LocalEmbedder) -> Any:
        from ragas.embeddings.base import BaseRagasEmbedding

        class Local(BaseRagasEmbedding):
            def embed_text(self, text: str, **_: Any) -> list[float]:
                return [float(x) for x in embedder.embed([text])[0]]

            async def aembed_text(self, text: str, **_: Any) -> list[float]:
                return await asyncio.to_thread(self.embed_text, text)

        return Local()


def _samples(paper: PaperData) -> list[tuple[str, str, str, list[str]]]:
    """(heading, question, answer, contexts) per section that has text and cited chunks."""
    samples = []
    for section in paper.sections:
        sentences = [sentence for paragraph in section.paragraphs for sentence in paragraph]
        answer = " ".join(strip_markers(sentence.text) for sentence in sentences).strip()
        keys = dict.fromkeys(key for sentence in sentences for key in sentence.citations)
        contexts = [paper.chunks[key] for key in keys if key in paper.chunks]
        if answer and contexts:
            samples.append((section.heading, f"{paper.topic}: {section.heading}", answer, contexts))
    return samples


async def judge_paper(
    paper: PaperData,
    *,
    base_url: str,
    api_key: SecretStr,
    model: str,
    embedder: LocalEmbedder,
    request_timeout: float = 120.0,
    concurrency: int = 8,
) -> JudgeReport:
    _quiet_ragas()
    try:
        from openai import AsyncOpenAI
        from ragas.llms import llm_factory
        from ragas.metrics.collections import (
            AnswerRelevancy,
            ContextPrecisionWithoutReference,
            Faithfulness,
        )
    except ImportError as exc:
        raise JudgeError(
            f"--judge needs the ragas package: {exc}",
            hint="it is in requirements/app.in; run scripts/setup.sh",
        ) from exc
    client = AsyncOpenAI(
        base_url=base_url, api_key=api_key.get_secret_value(), timeout=request_timeout, max_retries=1
    )
    llm = llm_factory(model, client=client, temperature=0.0, max_tokens=1024)
    faithfulness = Faithfulness(llm=llm)
    relevancy = AnswerRelevancy(llm=llm, embeddings=_MiniLM.make(embedder))
    precision = ContextPrecisionWithoutReference(llm=llm)
    metrics: dict[str, Callable[[str, str, list[str]], Awaitable[Any]]] = {
        "faithfulness": lambda q, a, c: faithfulness.ascore(user_input=q, response=a, retrieved_contexts=c),
        "answer_relevancy": lambda q, a, c: relevancy.ascore(user_input=q, response=a),
        "context_precision": lambda q, a, c: precision.ascore(user_input=q, response=a, retrieved_contexts=c),
    }
    limit = asyncio.Semaphore(concurrency)

    async def one(name: str, question: str, answer: str, contexts: list[str]) -> tuple[float | None, str]:
        async with limit:
            try:
                result = await asyncio.wait_for(
                    metrics[name](question, answer, contexts), request_timeout * 3
                )
            except Exception as exc:  # a judge's bad output is data about that sample, not a crash
                return None, f"{type(exc).__name__}: {str(exc)[:200]}"
        value = getattr(result, "value", result)
        try:
            score = float(value)
        except (TypeError, ValueError):
            return None, f"not a number: {value!r}"[:200]
        return (None, "NaN") if math.isnan(score) else (score, "")

    samples = _samples(paper)
    try:
        outcomes = await asyncio.gather(
            *(one(name, q, a, c) for _, q, a, c in samples for name in JUDGE_METRICS)
        )
    finally:
        await client.close()
    report_samples = []
    for index, (heading, _, _, _) in enumerate(samples):
        mine = outcomes[index * len(JUDGE_METRICS) : (index + 1) * len(JUDGE_METRICS)]
        report_samples.append(
            JudgeSample(
                section=heading,
                scores={name: score for name, (score, _) in zip(JUDGE_METRICS, mine, strict=True)},
                errors={name: error for name, (_, error) in zip(JUDGE_METRICS, mine, strict=True) if error},
            )
        )
    means: dict[str, float | None] = {}
    judged: dict[str, int] = {}
    for name in JUDGE_METRICS:
        values = [score for sample in report_samples if (score := sample.scores[name]) is not None]
        judged[name] = len(values)
        means[name] = round(sum(values) / len(values), 4) if values else None
    return JudgeReport(model=model, base_url=base_url, means=means, judged=judged, samples=report_samples)
