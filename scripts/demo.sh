#!/usr/bin/env bash
# The main job, end to end on a fresh machine: set up, prepare the bundled model, start the local
# vLLM server in the background (or reuse the running one), and ask it one question.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup.sh"
"$ROOT/.venv/bin/scriptorium" serve --detach
exec "$ROOT/.venv/bin/scriptorium" chat "${1:-In two sentences, what is retrieval-augmented generation?}"
