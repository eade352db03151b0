"""The /ask endpoint with gradio_client: one line of `assistant ask --json`, as other tools expect."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import REPO, WebServer

QUESTIONS = ["Which UK ministers signed the US-UK AI declaration?", "What is the capital of Australia?"]


def test_ask_endpoint_returns_the_cli_json_line(web_server: WebServer) -> None:
    from gradio_client import Client

    client = Client(web_server.url, verbose=False)
    lines = [client.predict(question, api_name="/ask") for question in QUESTIONS]
    cli = subprocess.run(
        [sys.executable, "-m", "assistant", "ask", "--json", *QUESTIONS, "--corpus", str(web_server.corpus),
         "--index", str(web_server.index), "-q"], capture_output=True, text=True, cwd=REPO, timeout=300, check=True)
    assert lines == cli.stdout.splitlines()  # the very same text, line for line
    answered, uncovered = (json.loads(line) for line in lines)
    assert answered["question"] == QUESTIONS[0] and not answered["abstained"] and answered["citations"]
    assert {"n", "chunk_id", "doc_id", "title", "excerpt", "start", "end", "path"} <= set(answered["citations"][0])
    assert uncovered["abstained"] and uncovered["citations"] == [] and uncovered["closest"]


def test_only_ask_is_offered_as_an_api(web_server: WebServer) -> None:
    from gradio_client import Client

    endpoints = Client(web_server.url, verbose=False).view_api(print_info=False, return_format="dict")
    assert list(endpoints["named_endpoints"]) == ["/ask"] and not endpoints["unnamed_endpoints"]
