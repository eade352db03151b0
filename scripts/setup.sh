#!/usr/bin/env bash
# Creates .venv with the CPU build of torch and the assistant installed (editable).
# Safe to run again: it does nothing when the environment is already up to date.
#   TORCH_SPEC   which torch to install (default: the line in constraints/cpu.txt)
#   EXTRAS       pip extras to install, e.g. "test" (default: none)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
EXTRAS=${EXTRAS:-}
TORCH_SPEC=${TORCH_SPEC:-$(grep -E '^torch' constraints/cpu.txt | head -n1)}

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)

if ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  echo "setup: installing the CPU build of torch ($TORCH_SPEC)"
  # A CPU wheel first ("+cpu" local builds); then the official CPU index. Never the
  # default CUDA build, which pulls gigabytes of GPU packages.
  "${PIP[@]}" install "${TORCH_SPEC}+cpu" 2>/dev/null \
    || "${PIP[@]}" install "$TORCH_SPEC" --index-url https://download.pytorch.org/whl/cpu 2>/dev/null \
    || "${PIP[@]}" install "$TORCH_SPEC"
fi

# OCR of scanned PDF pages (ASSISTANT_OCR) needs Tesseract. Installed when missing and the
# system lets us (root or sudo without a password); without it the assistant works as before
# and reports scanned pages as having no text.
if ! command -v tesseract >/dev/null; then
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  if command -v apt-get >/dev/null && { [ -z "$SUDO" ] || sudo -n true 2>/dev/null; }; then
    echo "setup: installing tesseract-ocr for OCR of scanned PDFs"
    { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends \
        tesseract-ocr tesseract-ocr-eng; } >/dev/null 2>&1 \
      || echo "setup: could not install it; scanned PDFs will be reported, not read (see docs/corpus.md)" >&2
  else
    echo "setup: tesseract missing; scanned PDFs will be reported, not read (see docs/corpus.md)" >&2
  fi
fi

spec="."
[ -n "$EXTRAS" ] && spec=".[$EXTRAS]"
stamp="$VENV/.assistant-installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${EXTRAS:-none}"
if [ ! -f "$stamp" ]; then
  echo "setup: installing the assistant and its dependencies ($spec)"
  "${PIP[@]}" install -e "$spec"
  touch "$stamp"
fi
"$VENV/bin/python" -c "import torch; assert not torch.version.cuda, 'a CUDA build of torch is installed'" \
  || { echo "setup: a CUDA build of torch is in $VENV; delete $VENV and run again" >&2; exit 1; }
echo "setup: ready ($VENV, torch $("$VENV/bin/python" -c 'import torch; print(torch.__version__)'))"
