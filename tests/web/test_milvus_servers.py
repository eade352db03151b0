"""Two `assistant serve` processes on one Milvus collection: the same answers, and a rebuild
published by one machine is answered from by both without a restart."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ..conftest import CORPUS, REPO, MilvusServer, free_port, wait_until_up

QUESTIONS = ["Which UK ministers signed the US-UK AI declaration?",
             "When do the US and UK expect to launch their prize challenges?",
             "What is the capital of Australia?"]
NEW_QUESTION = "Where was the Zebrafish Accord on AI evaluation signed?"


@contextlib.contextmanager
def _serve(root: Path, store: str) -> Iterator[str]:
    """`assistant serve --store STORE` with its own (empty) corpus and index folders."""
    root.mkdir(parents=True)
    port, log = free_port(), root / "serve.log"
    env = {**os.environ, "GRADIO_TEMP_DIR": str(root / "gradio-tmp")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--store", store, "--port", str(port), "--corpus",
             str(root / "corpus"), "--index", str(root / "index"), "-q"],
            cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log, timeout=240)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _index(corpus: Path, index: Path, store: str) -> None:
    subprocess.run([sys.executable, "-m", "assistant", "index", "--store", store, "--corpus", str(corpus),
                    "--index", str(index), "-q"], cwd=REPO, check=True, capture_output=True, timeout=600)


def test_two_servers_share_one_collection_and_follow_a_rebuild(milvus_server: MilvusServer, tmp_path: Path) -> None:
    from gradio_client import Client

    store = milvus_server.store("shared_chat")
    corpus, staging = tmp_path / "corpus", tmp_path / "staging"
    shutil.copytree(CORPUS, corpus)
    _index(corpus, staging, store)  # the build machine
    with _serve(tmp_path / "one", store) as one, _serve(tmp_path / "two", store) as two:
        first, second = Client(one, verbose=False), Client(two, verbose=False)
        answers = [first.predict(q, api_name="/ask") for q in QUESTIONS]
        assert answers == [second.predict(q, api_name="/ask") for q in QUESTIONS]
        assert not answers[0]["abstained"] and answers[2]["abstained"]
        # A document is added on the build machine and the index rebuilt there; neither server restarts.
        (corpus / "zz-new-note.txt").write_text(
            "Zebrafish Accord\n\nThe Zebrafish Accord on AI evaluation was signed in Reykjavik in March 2031.\n",
            encoding="utf-8")
        _index(corpus, staging, store)
        for client in (second, first):
            deadline = time.monotonic() + 60
            while True:
                found = client.predict(NEW_QUESTION, api_name="/ask")
                if found["citations"] or time.monotonic() > deadline:
                    break
                time.sleep(1)
            assert found["citations"][0]["doc_id"] == "zz-new-note"
            assert "Reykjavik" in found["citations"][0]["excerpt"]
