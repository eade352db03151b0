#!/usr/bin/env bash
# Set up (with test extras) and run the whole test suite: `bash scripts/test.sh [--fast] [PYTEST ARGS]`.
# --fast leaves out the tests marked slow, browser, milvus, ray, office, ocr and bench (pyproject.toml)
# and the Debian packages only they need; what is left runs in a few minutes.
set -euo pipefail
cd "$(dirname "$0")/.."
FAST=""
if [ "${1:-}" = "--fast" ]; then
  FAST="not (slow or browser or milvus or ray or office or ocr or bench)"
  shift
fi
# The browser tests need Debian's chromium (never a downloaded browser); the briefing
# tests turn a .docx into PDF with LibreOffice and into PNG pages with pdftoppm; the OCR
# tests need Tesseract.
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO="sudo"
if [ -n "$FAST" ]; then
  :  # none of the tests left need the Debian packages below
elif [ ! -x /usr/bin/chromium ]; then
  echo "test: installing Debian's chromium for the browser tests"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium
fi
if [ -z "$FAST" ] && { ! command -v soffice >/dev/null || ! command -v pdftoppm >/dev/null; }; then
  echo "test: installing Debian's LibreOffice Writer and poppler-utils for the briefing tests"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends libreoffice-writer-nogui poppler-utils
fi
# The OCR tests read scanned PDFs with Tesseract (scripts/setup.sh tries the same, quietly).
if [ -z "$FAST" ] && { ! command -v tesseract >/dev/null || [ ! -e /usr/share/tesseract-ocr/5/tessdata/eng.traineddata ]; }; then
  echo "test: installing Debian's tesseract-ocr (English) for the OCR tests"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends tesseract-ocr tesseract-ocr-eng
fi
EXTRAS=test bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check assistant tests benchmarks scripts
.venv/bin/mypy assistant
# Two pytest workers (pytest-xdist), each taking whole test files: most tests wait on
# processes and servers they start, so two share even a 2-core machine well. Files are handed
# out in collection order, the longest first (tests/conftest.py), not by their number of tests.
# TEST_WORKERS=0 runs everything in this process.
# Each worker, and every process it starts, computes with one thread (OMP_NUM_THREADS: torch's and
# faiss's OpenMP): two workers each running 2-thread torch on 2 cores spend much of their time
# waiting on each other (docs/development.md).
WORKERS=(-n "${TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder)
if [ "${TEST_WORKERS:-2}" = "0" ]; then
  WORKERS=()
else
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
fi
if [ -n "$FAST" ]; then
  .venv/bin/python -m pytest "${WORKERS[@]}" -m "$FAST" "$@"
else
  .venv/bin/python -m pytest "${WORKERS[@]}" "$@"
fi
