"""Memory store speed: ingestion against raw embedding, and query latency as the store grows.

    .venv/bin/python bench/memory.py [--sizes 1000,10000,50000] [--copies 40]

1. Ingestion: the sample corpus copied `--copies` times (each copy a distinct document) through
   `MemoryStore.ingest` (load, chunk, embed, write to Chroma), against `SentenceTransformer.encode` on
   exactly the same chunk texts with the same batch size. Target: ingest >= 0.9 x raw chunks/s.
2. Query latency: a store filled with synthetic passages up to each size; 200 queries each
   (embedding the query included), p50 and p95. Target: p50 <= 15 ms at 50k chunks.
Prints a table and writes bench/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scriptorium.memory import Document, LocalEmbedder, MemoryStore, split_text

CORPUS = Path(__file__).parents[1] / "examples" / "corpus"
RESULTS = Path(__file__).parent / "results" / "memory.json"
QUERIES = [
    "How does LoRA reduce the number of trained parameters?",
    "continuous batching in vLLM",
    "what is retrieval-augmented generation",
    "grouped-query attention and the key-value cache",
    "evaluating faithfulness of generated text",
    "constrained decoding with a JSON schema",
    "quantization formats for small models",
    "multi-agent frameworks and their costs",
]


def make_documents(folder: Path, copies: int) -> list[Path]:
    files = []
    for copy in range(copies):
        for source in sorted(CORPUS.glob("*.md")):
            target = folder / f"copy{copy:03d}" / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(f"Edition {copy}.\n\n" + source.read_text())
            files.append(target)
    return files


def bench_ingest(embedder: LocalEmbedder, copies: int, work: Path) -> dict[str, float]:
    files = make_documents(work / "docs", copies)
    texts = [c.text for f in files for c in split_text(f.read_text(), 1200, 200)]
    embedder.embed(texts[:64])  # warm up both paths alike
    started = time.perf_counter()
    embedder.model.encode(texts, batch_size=embedder.batch_size, normalize_embeddings=True)
    raw_s = time.perf_counter() - started
    with MemoryStore(work / "ingest-store", "bench", embedder=embedder) as store:
        started = time.perf_counter()
        report = store.ingest(files)
        ingest_s = time.perf_counter() - started
    chunks = report.count("added")
    assert chunks == len(texts), (chunks, len(texts))
    return {
        "files": len(files),
        "chunks": chunks,
        "raw_chunks_per_s": len(texts) / raw_s,
        "ingest_chunks_per_s": chunks / ingest_s,
        "ratio": (chunks / ingest_s) / (len(texts) / raw_s),
    }


def synthetic_passages(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    sentences = [
        s.strip() for p in CORPUS.glob("*.md") for s in p.read_text().split(".") if len(s.strip()) > 30
    ]
    return [" ".join(rng.sample(sentences, 3)) + f" (passage {seed}-{i})" for i in range(count)]


def bench_queries(embedder: LocalEmbedder, sizes: list[int], work: Path) -> list[dict[str, float]]:
    rows = []
    # Small chunks without overlap: about one synthetic passage per chunk.
    with MemoryStore(
        work / "query-store", "bench", embedder=embedder, chunk_size=400, chunk_overlap=0
    ) as store:
        batch_no = 0
        for size in sizes:
            while (filled := store.count()) < size:
                batch = synthetic_passages(min(2000, size - filled), seed=batch_no)
                store.add_document(Document(f"synthetic-{batch_no}", "synthetic", "\n\n".join(batch)))
                batch_no += 1
            latencies = []
            for index in range(200):
                started = time.perf_counter()
                store.query(QUERIES[index % len(QUERIES)] + f" {index}", k=5)
                latencies.append((time.perf_counter() - started) * 1000)
            latencies.sort()
            rows.append(
                {
                    "chunks": filled,
                    "p50_ms": statistics.median(latencies),
                    "p95_ms": latencies[int(0.95 * len(latencies)) - 1],
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--copies", type=int, default=40)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    embedder = LocalEmbedder()
    work = Path(tempfile.mkdtemp(prefix="scriptorium-bench-"))
    try:
        ingest = bench_ingest(embedder, args.copies, work)
        queries = bench_queries(embedder, sizes, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    console = Console()
    table = Table(title="ingestion (chunks/s)")
    for column in ("files", "chunks", "raw encode", "ingest", "ratio", ">= 0.9"):
        table.add_column(column, justify="right")
    table.add_row(
        str(ingest["files"]),
        str(ingest["chunks"]),
        f"{ingest['raw_chunks_per_s']:.0f}",
        f"{ingest['ingest_chunks_per_s']:.0f}",
        f"{ingest['ratio']:.3f}",
        "yes" if ingest["ratio"] >= 0.9 else "NO",
    )
    console.print(table)
    table = Table(title="query latency (200 queries, k=5, query embedding included)")
    for column in ("chunks", "p50 ms", "p95 ms"):
        table.add_column(column, justify="right")
    for row in queries:
        table.add_row(str(int(row["chunks"])), f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}")
    console.print(table)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps({"machine": platform.platform(), "ingest": ingest, "queries": queries}, indent=2)
    )
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
