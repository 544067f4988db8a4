"""Ship a registered fine-tune as the package's paper adapter (`scriptorium/serving/adapters/paper`).

    .venv/bin/python scripts/ship_adapter.py NAME [--metrics bench/results/quality-neutral.json]

Copies the fine-tune's adapter files and writes `provenance.json`: the bundled GGUF's SHA-256 it
was trained over, the training data's hash and row count, the recipe, the commit and, with
--metrics, the quality bench's summary for the adapter and the base. `scripts/rebuild_adapter.sh`
runs the whole chain (training rows, training, shipping).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from scriptorium.config import load_settings
from scriptorium.finetune.registry import ModelRegistry
from scriptorium.serving.models import bundled_model
from scriptorium.serving.shipped import SHIPPED_DIR, Provenance

REBUILD = (
    "scriptorium finetune --paper --out NAME (then scripts/ship_adapter.py NAME: scripts/rebuild_adapter.sh)"
)
DATA = "scriptorium/finetune/data/restater/pairs.jsonl (rows: scriptorium.finetune.restater_set)"


def main(name: str, metrics_file: Path | None) -> None:
    record = ModelRegistry.of(load_settings()).get(name)
    base = bundled_model()
    loss = record.metrics.get("train_loss")
    metrics: dict[str, Any] = {"train_loss": round(loss, 3) if isinstance(loss, float) else loss}
    if metrics_file is not None:
        metrics |= compared(json.loads(metrics_file.read_text())["runs"], metrics_file)
    SHIPPED_DIR.mkdir(parents=True, exist_ok=True)
    for file in ("adapter_config.json", "adapter_model.safetensors"):
        shutil.copyfile(Path(record.adapter_path) / file, SHIPPED_DIR / file)
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    provenance = Provenance(
        name="paper",
        base_model="SmolLM2-135M-Instruct",
        base_sha256=base.sha256,
        roles=["restater"],
        data=DATA,
        data_hash=record.data_hash,
        rows=record.examples,
        recipe=record.recipe,
        commit=commit or "unknown",
        trained_at=record.created_at,
        rebuild=REBUILD,
        metrics=metrics,
    )
    (SHIPPED_DIR / "provenance.json").write_text(provenance.model_dump_json(indent=2) + "\n")
    print(f"shipped {name} to {SHIPPED_DIR}")


def compared(runs: dict[str, Any], source: Path) -> dict[str, str]:
    """The base's and the adapter's figures of a `bench/quality.py --models base,...` run, each as
    "base/adapter" (the adapter: the run that is not the base)."""
    base = runs["base"]
    tuned = next(run for name, run in runs.items() if name != "base")
    pairs = {
        "words": (base["summary"]["words"], tuned["summary"]["words"], "{:.0f}"),
        "verbatim": (base["summary"]["verbatim_share"], tuned["summary"]["verbatim_share"], "{:.3f}"),
        "supported": (base["summary"]["supported_share"], tuned["summary"]["supported_share"], "{:.2f}"),
        "held-out items restated": (
            base["restater"]["items_restated"],
            tuned["restater"]["items_restated"],
            "{:.2f}",
        ),
        "batch_s": (base["batch_s"], tuned["batch_s"], "{:.0f}"),
    }
    shown = {
        f"{name} base/adapter": f"{form.format(b)}/{form.format(t)}" for name, (b, t, form) in pairs.items()
    }
    return shown | {"measured": f"{source} ({tuned['date'][:10]}, {tuned['commit']})"}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("name")
    parser.add_argument("--metrics", type=Path)
    args = parser.parse_args()
    main(args.name, args.metrics)
