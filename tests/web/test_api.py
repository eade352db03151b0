"""The /ask endpoint with gradio_client: one line of `assistant ask --json`, as other tools expect."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import REPO, WebServer, free_port, wait_until_up

pytestmark = pytest.mark.slow  # each test talks to a server it started

QUESTIONS = ["Which UK ministers signed the US-UK AI declaration?", "What is the capital of Australia?"]


def test_ask_endpoint_returns_the_cli_json_line(web_server: WebServer) -> None:
    from gradio_client import Client

    client = Client(web_server.url, verbose=False)
    objects = [client.predict(question, api_name="/ask") for question in QUESTIONS]
    cli = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "--json", *QUESTIONS, "--corpus", str(web_server.corpus),
         "--index", str(web_server.index), "-q"], capture_output=True, text=True, cwd=REPO, timeout=300, check=True)
    assert objects == [json.loads(line) for line in cli.stdout.splitlines()]  # the very same objects
    answered, uncovered = objects
    assert answered["question"] == QUESTIONS[0] and not answered["abstained"] and answered["citations"]
    assert {"n", "chunk_id", "doc_id", "title", "excerpt", "start", "end", "file"} <= set(answered["citations"][0])
    assert uncovered["abstained"] and uncovered["citations"] == [] and uncovered["closest"]


def test_only_ask_is_offered_as_an_api(web_server: WebServer) -> None:
    from gradio_client import Client

    endpoints = Client(web_server.url, verbose=False).view_api(print_info=False, return_format="dict")
    assert list(endpoints["named_endpoints"]) == ["/ask"] and not endpoints["unnamed_endpoints"]


def test_password_protection(web_server: WebServer, tmp_path: Path) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AuthenticationError

    logins = tmp_path / "logins"
    logins.write_text("analyst:correct horse\n", encoding="utf-8")
    port, log = free_port(), tmp_path / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "assistant", "serve", "--port", str(port), "--corpus", str(web_server.corpus),
             "--index", str(web_server.index), "--auth-file", str(logins), "-q"],
            cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_up(url, process, log, timeout=120)
        with pytest.raises(AuthenticationError):
            Client(url, verbose=False)
        with pytest.raises(ValueError, match="login"):
            Client(url, auth=("analyst", "wrong"), verbose=False)
        answer = Client(url, auth=("analyst", "correct horse"), verbose=False).predict(
            QUESTIONS[0], api_name="/ask")
        assert answer["citations"]
    finally:
        process.terminate()
        process.wait(timeout=20)
