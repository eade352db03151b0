#!/usr/bin/env bash
# The Milvus and Ray tests N times in a row (default 3) beside a CPU hog of 2 busy processes:
# `bash scripts/stress_scaling_tests.sh [N]`. Each run's exit status and seconds are printed.
set -uo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
python3 -c "while True: pass" & HOG1=$!
python3 -c "while True: pass" & HOG2=$!
trap 'kill $HOG1 $HOG2' EXIT
for run in $(seq 1 "${1:-3}"); do
  start=$(date +%s)
  .venv/bin/python -m pytest -q -p no:cacheprovider -m "milvus or ray" | tail -3
  echo "run $run: rc=${PIPESTATUS[0]}, $(( $(date +%s) - start )) s"
done
