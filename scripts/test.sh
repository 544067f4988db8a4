#!/usr/bin/env bash
# The test command: set up (or reuse) both venvs, check style and types, run the suite.
# The suite starts one real vLLM server with the bundled model for the whole session.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
scripts/setup.sh --phoenix   # Phoenix too: a test reads a run's spans back through it
.venv/bin/ruff check scriptorium tests bench
.venv/bin/ruff format --check --quiet scriptorium tests bench
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
