#!/usr/bin/env bash
# Rebuild the shipped paper adapter from the repository's data: training rows, LoRA training on
# this machine (about 12 minutes on 2 CPU cores), then the package's copy and its provenance.
#   scripts/rebuild_adapter.sh [NAME]     (NAME: the registry name, default paper-rebuilt)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=${1:-paper-rebuilt}
ROWS=$(mktemp --suffix=.jsonl)
"$ROOT/.venv/bin/python" "$ROOT/scripts/build_restater_set.py" "$ROWS"
"$ROOT/.venv/bin/scriptorium" finetune --role writer --data "$ROWS" --no-seed --out "$NAME" \
  --epochs 2 --steps 120 --force
"$ROOT/.venv/bin/python" "$ROOT/scripts/ship_adapter.py" "$NAME"
