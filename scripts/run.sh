#!/usr/bin/env bash
# The main job: set up, build the index of the bundled corpus if needed, answer a sample
# question, then serve the web chat on http://127.0.0.1:7860 (Ctrl+C stops it).
#   scripts/run.sh "your question"   answers your question instead of the sample
#   PORT=8080 scripts/run.sh         serves on another port
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False
.venv/bin/assistant index
.venv/bin/assistant ask "${1:-What is the Global Partnership on AI trying to bridge?}"
exec .venv/bin/assistant serve --port "${PORT:-7860}" --open-editing  # this machine only: its user may edit
