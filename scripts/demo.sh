#!/usr/bin/env bash
# The main job, end to end on a fresh machine: set up, prepare the bundled model, start the local
# vLLM server in the background (or reuse the running one), ingest the sample corpus and write a
# cited paper on the topic given (default below). The run folder is printed at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
"$ROOT/scripts/setup.sh"
cd "$ROOT"
exec "$ROOT/.venv/bin/scriptorium" run paper \
  --topic "${1:-retrieval-augmented generation}" \
  --corpus "$ROOT/examples/corpus"
