#!/usr/bin/env bash
# Set up (with test extras) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS=test bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check assistant tests benchmarks
.venv/bin/mypy assistant
.venv/bin/python -m pytest "$@"
