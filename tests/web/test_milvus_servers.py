"""Two `assistant serve` processes on one Milvus collection: the same answers, and a rebuild
published by one machine is answered from by both without a restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import CORPUS, REPO, MilvusServer, serving

pytestmark = [pytest.mark.milvus, pytest.mark.slow]

QUESTIONS = ["Which UK ministers signed the US-UK AI declaration?",
             "When do the US and UK expect to launch their prize challenges?",
             "What is the capital of Australia?"]
NEW_QUESTION = "Where was the Zebrafish Accord on AI evaluation signed?"


def _index(corpus: Path, index: Path, store: str) -> None:
    subprocess.run([sys.executable, "-m", "assistant", "index", "--store", store, "--corpus", str(corpus),
                    "--index", str(index), "-q"], cwd=REPO, check=True, capture_output=True, timeout=600)


def test_two_servers_share_one_collection_and_follow_a_rebuild(milvus_server: MilvusServer, tmp_path: Path) -> None:
    from gradio_client import Client

    store = milvus_server.store("shared_chat")
    corpus, staging = tmp_path / "corpus", tmp_path / "staging"
    shutil.copytree(CORPUS, corpus)
    _index(corpus, staging, store)  # the build machine
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    # Chat servers with nothing of their own: an empty corpus folder and index folder each.
    with serving(tmp_path / "one" / "corpus", tmp_path / "one" / "index", tmp_path / "one", "--store", store) as one, \
            serving(tmp_path / "two" / "corpus", tmp_path / "two" / "index", tmp_path / "two", "--store", store) as two:
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
