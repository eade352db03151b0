#!/usr/bin/env bash
# The main job: set up, build the index of the bundled corpus if missing, answer a sample question.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/assistant index
.venv/bin/assistant ask "${1:-What is the Global Partnership on AI trying to bridge?}"
