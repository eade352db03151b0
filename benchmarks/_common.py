"""Helpers shared by the benchmark scripts: machine facts, statistics, tables, a timing embedder."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_CORPUS = REPO_ROOT / "corpus"
EXTRA_CORPUS = Path("/work/shared/corpus-extra")
DEV_QA = Path("/work/shared/eval/dev_qa.jsonl")

# Questions about the bundled corpus (plus two it does not cover), used beside dev_qa.jsonl.
GENERIC_QUESTIONS = (
    "Which UK ministers signed the US-UK AI declaration?",
    "What is the International Alliance for a Human-Centric Approach to AI?",
    "What did the United States and the European Union agree about AI safety?",
    "How does the US cooperate with other countries on artificial intelligence?",
    "What are the goals of the US-UK declaration on AI research and development?",
    "Who funds the human-centric AI outreach project?",
    "What is the capital of Australia?",
    "How do I bake sourdough bread?",
)
WARM_UP_QUESTION = "What is this corpus about?"


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def print_header(title: str) -> None:
    """The command to reproduce, then the machine (without importing torch)."""
    command = " ".join(shlex.quote(a) for a in [_shown_python(), *sys.argv])
    print(f"# {title}")
    print(f"command:  {command}")
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine:  nproc {usable} ({cpu_model()}), {platform.system()} {platform.release()}")
    print(f"python:   {platform.python_version()} ({sys.executable})")
    print(f"packages: torch {_version('torch')}, sentence-transformers "
          f"{_version('sentence-transformers')}, transformers {_version('transformers')}, "
          f"faiss-cpu {_version('faiss-cpu')}, numpy {_version('numpy')}")
    print(f"load avg: {load_average()} (1/5/15 min; other work on the machine skews the figures)")
    print()


def _shown_python() -> str:
    try:
        return os.path.relpath(sys.executable, Path.cwd())
    except ValueError:
        return sys.executable


def torch_threads() -> str:
    """Intra-op/inter-op thread counts; call only once torch is imported anyway."""
    if "torch" not in sys.modules:
        return "torch not imported"
    import torch

    return f"{torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} inter-op threads"


def set_torch_threads(threads: int | None) -> None:
    """torch's intra-op threads for this process (None: leave torch's default)."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


def summary(values_s: Sequence[float]) -> dict[str, float]:
    """median, p95, min and max of timings given in seconds, returned in milliseconds."""
    if not values_s:
        return {"n": 0, "median_ms": float("nan"), "p95_ms": float("nan"),
                "min_ms": float("nan"), "max_ms": float("nan")}
    ms = np.asarray(values_s, dtype=float) * 1000.0
    return {"n": len(ms), "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95)),
            "min_ms": float(ms.min()), "max_ms": float(ms.max())}


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table; floats shown with one decimal."""
    cells = [[_cell(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print("  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w)
                    for i, (h, w) in enumerate(zip(header, widths))))
    for row in cells:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(row, widths))))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.1f}"
    return str(value)


def verdict(value: float, limit: float) -> str:
    return "PASS" if value <= limit else "FAIL"


def load_questions(path: Path | None) -> list[str]:
    """dev_qa.jsonl questions (when the file exists) followed by the generic ones, no repeats."""
    questions: list[str] = []
    if path is not None and path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                questions.append(json.loads(line)["question"])
    questions.extend(GENERIC_QUESTIONS)
    return list(dict.fromkeys(questions))


def copy_extra_corpus(source: Path, dest: Path) -> list[str]:
    """The .txt and .html files of the shared extra corpus (not its README) into dest."""
    if not source.is_dir():
        raise SystemExit(f"{source}: extra corpus folder not found (give --extra-dir)")
    dest.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(source.iterdir()):
        if path.is_file() and path.suffix.lower() in {".txt", ".html", ".htm"}:
            shutil.copyfile(path, dest / path.name)
            names.append(path.name)
    if not names:
        raise SystemExit(f"{source}: no .txt or .html files to copy")
    return names


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def milvus_lite_server(data_dir: Path) -> Iterator[str]:
    """A local Milvus server (`python -m milvus_lite server`) on a free port; yields "127.0.0.1:PORT"."""
    import socket
    import subprocess

    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data_dir),
                                "--host", "127.0.0.1", "--port", str(port)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.perf_counter() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.perf_counter() > deadline:
                    raise SystemExit("the Milvus Lite server did not start") from None
                time.sleep(0.2)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def write_json(path: Path | None, figures: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(f"\nfigures written to {path}")


class TimedEmbedder:
    """Wraps an Embedder and adds up the wall and CPU time spent in its calls.

    Passed to build_index()/Assistant() through their `embedder` argument, so the
    benchmarks can split a measurement into "model" and "everything else".
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name = inner.name
        self.reset()

    def reset(self) -> None:
        self.encode_s = 0.0
        self.encode_calls = 0
        self.encoded_texts = 0
        self.count_tokens_s = 0.0
        self.first_encode_at: float | None = None  # perf_counter() when the first encode began
        self.last_encode_end: float | None = None

    @property
    def dimension(self) -> int:
        return int(self.inner.dimension)

    @property
    def max_tokens(self) -> int:
        return int(self.inner.max_tokens)

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        started = time.perf_counter()
        if self.first_encode_at is None:
            self.first_encode_at = started
        try:
            return self.inner.encode(texts, batch_size=batch_size, progress=progress)
        finally:
            self.last_encode_end = time.perf_counter()
            self.encode_s += self.last_encode_end - started
            self.encode_calls += 1
            self.encoded_texts += len(texts)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        started = time.perf_counter()
        try:
            return list(self.inner.count_tokens(texts))
        finally:
            self.count_tokens_s += time.perf_counter() - started

    def vocabulary(self) -> list[str]:
        return list(self.inner.vocabulary())

    def __getattr__(self, name: str) -> Any:
        # Anything else the package may come to need from an embedder.
        return getattr(self.inner, name)


def answer_from_event(data: str) -> dict[str, Any]:
    """The `ask --json` object in the `data:` line of a `complete` event from /gradio_api/call/ask
    (Gradio sends it as an object, or as a JSON string in older versions)."""
    value = json.loads(data)[0]
    return dict(value if isinstance(value, dict) else json.loads(value))


def add_question_set_arguments(parser: Any) -> None:
    """--sets, --limit and --index-root, for the scripts that ask the sets of assistant/evaluation/sets.py."""
    from assistant.evaluation.sets import question_sets

    parser.add_argument("--sets", nargs="+", choices=list(question_sets()), default=list(question_sets()),
                        help="question sets to ask (default: all)")
    parser.add_argument("--limit", type=int, help="at most this many questions per set, spread over its documents")
    parser.add_argument("--index-root", type=Path, default=REPO_ROOT / "index" / "eval",
                        help="each corpus's index is built or reused in a folder here (default: index/eval/)")


def question_sets_with_assistants(names: Sequence[str], index_root: Path) -> Iterator[tuple[Any, Any]]:
    """(QuestionSet, Assistant over its corpus) for each named set whose files exist, one
    Assistant per corpus, its index built or brought up to date first; a missing set is
    reported and skipped."""
    from assistant.config import Settings
    from assistant.evaluation.sets import question_sets, settings_for
    from assistant.pipeline import Assistant, build_index, get_embedder

    embedder = get_embedder(Settings.from_env(progress=False))
    sets = question_sets()
    assistants: dict[Path, Assistant] = {}
    for name in names:
        qs = sets[name]
        if not qs.exists():
            print(f"{name}: skipped, its corpus or questions are missing (is ../shared there?)")
            continue
        if qs.corpus not in assistants:
            settings = settings_for(qs.corpus, index_root)
            build_index(settings, embedder=embedder)  # incremental: seconds when nothing changed
            assistants[qs.corpus] = Assistant(settings, embedder)
        yield qs, assistants[qs.corpus]
