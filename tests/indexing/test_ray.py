"""`assistant index --ray`: parsing, chunking and embedding in a real local two-worker Ray cluster
give the index a build on this process alone gives."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from assistant.indexing import store as index_store

from ..conftest import CORPUS, REPO, free_port, make_settings, wait_for_port

pytestmark = pytest.mark.ray

RAY = Path(sys.executable).parent / "ray"


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`ray start --head --block` with two CPUs (two workers) on a free port; its address. Stopped
    by a signal to that command, which stops this cluster's processes only (not `ray stop`,
    which would stop every cluster on the machine). Ray's token authentication is off for this
    cluster on 127.0.0.1 (a real one keeps it: README, Scaling out)."""
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    log = temp / "ray-start.log"
    with log.open("wb") as out:
        head = subprocess.Popen([str(RAY), "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
                                 "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(temp)],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, head, log, timeout=180)
        yield f"127.0.0.1:{port}"
    finally:
        head.terminate()  # drains, then stops the processes this command started
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved


def test_a_build_in_ray_equals_a_build_here(ray_cluster: str, seed_index, embedder,  # type: ignore[no-untyped-def]
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.distributed import ray_cluster as spread
    from assistant.pipeline import build_index

    submitted, encoded = [], []
    real_submit, real_encode = spread.RayExecutor.submit, spread.RayEmbedder.encode
    monkeypatch.setattr(spread.RayExecutor, "submit",
                        lambda self, fn, *a, **k: submitted.append(fn) or real_submit(self, fn, *a, **k))
    monkeypatch.setattr(spread.RayEmbedder, "encode",
                        lambda self, texts, *a, **k: encoded.append((len(self.actors), len(texts)))
                        or real_encode(self, texts, *a, **k))
    settings = make_settings(CORPUS, tmp_path / "index", ray=ray_cluster)
    report = build_index(settings, embedder=embedder)
    assert report.total_chunks > 0 and not report.failed
    assert len(submitted) >= 2 * len(report.added)  # each document parsed, then chunked, in Ray tasks
    assert encoded and {actors for actors, _ in encoded} == {2}  # two workers, each with its model
    here, there = index_store.load(seed_index.index_dir), index_store.load(settings.index_dir)
    assert [c.chunk_id for c in there.chunks] == [c.chunk_id for c in here.chunks]
    assert [c.text for c in there.chunks] == [c.text for c in here.chunks]
    cosines = np.sum(np.asarray(there.vectors) * np.asarray(here.vectors), axis=1)
    assert cosines.min() >= 0.9999, cosines.min()
    excerpts = np.sum(np.asarray(there.excerpt_vectors) * np.asarray(here.excerpt_vectors), axis=1)
    assert len(excerpts) == len(here.excerpt_vectors) and excerpts.min() >= 0.9999


def test_the_command_line_build_with_ray_and_its_errors(ray_cluster: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "assistant", "index", "--ray", ray_cluster, "--index",
                           str(tmp_path / "index"), "-q", "--json"], cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"total_chunks"' in done.stdout
    nobody = f"127.0.0.1:{free_port()}"
    failed = subprocess.run([sys.executable, "-m", "assistant", "index", "--ray", nobody, "--index",
                             str(tmp_path / "other"), "-q"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith(f"error: --ray {nobody}: cannot connect to a Ray cluster")


def test_without_ray_or_milvus_neither_is_imported() -> None:
    code = ("import sys; import assistant.cli, assistant.pipeline, assistant.indexing.build, assistant.web.app; "
            "from assistant.config import Settings; from assistant.indexing.opening import open_store; "
            "print(sorted(m for m in ('ray', 'pymilvus') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
