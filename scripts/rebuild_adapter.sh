#!/usr/bin/env bash
# Rebuild the shipped paper adapter from the repository's data: `scriptorium finetune --paper`
# (the checked restater pairs, the shipped recipe; about 10 minutes on 2 CPU cores), then the
# package's copy and its provenance.
#   scripts/rebuild_adapter.sh [NAME]     (NAME: the registry name, default paper-rebuilt)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NAME=${1:-paper-rebuilt}
"$ROOT/.venv/bin/scriptorium" finetune --paper --out "$NAME" --force
"$ROOT/.venv/bin/python" "$ROOT/scripts/ship_adapter.py" "$NAME"
