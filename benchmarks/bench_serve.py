"""Page-ready time after `assistant serve`, with the index already built (target: <= 10 s).

Per run, a fresh `python -m assistant serve` on a free port, timed from the moment it is
started to:
  http     the page's HTML answers 200
  answer   the /ask endpoint has answered a question (over HTTP, as the page would)
  browser  Debian's chromium (Playwright) shows the chat with its example questions
           (only when /usr/bin/chromium exists; the browser is started before the server)
One unmeasured run first warms the machine's file cache. The index is built once, before
any run, in a temp folder (or pass --index with one built already).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from _common import BUNDLED_CORPUS, REPO_ROOT, answer_from_event, print_header, print_table, verdict, write_json

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TARGET_S = 10.0
QUESTION = "Which UK ministers signed the US-UK AI declaration?"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter()
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url}: no answer after {timeout:.0f} s")


def ask_once(base: str, question: str) -> dict[str, Any]:
    """One call of the /ask endpoint over Gradio's HTTP API; the answer as a dict."""
    request = urllib.request.Request(f"{base}gradio_api/call/ask", data=json.dumps({"data": [question]}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{base}gradio_api/call/ask/{event_id}", timeout=60) as response:
        event = ""
        for raw in response:
            line = raw.decode("utf-8").rstrip("\n")
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "complete":
                return answer_from_event(line[5:])
            elif line.startswith("data:") and event == "error":
                raise SystemExit(f"/ask failed: {line}")
    raise SystemExit("/ask: the stream ended without an answer")


def one_run(args: argparse.Namespace, corpus: Path, index: Path, browser: Any) -> dict[str, float]:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    page = browser.new_page() if browser else None
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port), "--corpus",
                                str(corpus), "--index", str(index), "-q"], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        figures = {"http_s": wait_http(base, process, args.timeout) - started}
        if page is not None:
            page.goto(base)
            page.wait_for_selector("#chat")
            page.get_by_text("What is the").first.wait_for()  # an example question is on screen
            figures["browser_s"] = time.perf_counter() - started
        answer = ask_once(base, QUESTION)
        figures["answer_s"] = time.perf_counter() - started
        if answer.get("question") != QUESTION or not answer.get("citations"):
            raise SystemExit(f"unexpected answer: {answer}")
        return figures
    finally:
        if page is not None:
            page.close()
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="measured runs (default 3)")
    parser.add_argument("--corpus", type=Path, default=BUNDLED_CORPUS)
    parser.add_argument("--index", type=Path, help="an index already built for --corpus (default: build one)")
    parser.add_argument("--no-browser", action="store_true", help="skip the chromium measurement")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print_header("page ready after `assistant serve` (index built)")

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        index = args.index
        if index is None:
            index = Path(tmp) / "index"
            subprocess.run([sys.executable, "-m", "assistant", "index", "-q", "--corpus", str(args.corpus),
                            "--index", str(index)], cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
        use_browser = CHROMIUM.exists() and not args.no_browser
        if not use_browser:
            print(f"browser: skipped ({'--no-browser' if args.no_browser else f'{CHROMIUM} not found'})")
        rows, runs = [], []
        playwright = None
        try:
            browser = None
            if use_browser:
                from playwright.sync_api import sync_playwright

                playwright = sync_playwright().start()
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=BROWSER_ARGS)
            one_run(args, args.corpus, index, browser)  # warm-up: file cache, compiled bytecode
            for n in range(1, args.runs + 1):
                figures = one_run(args, args.corpus, index, browser)
                runs.append(figures)
                rows.append([f"run {n}", figures["http_s"], figures.get("browser_s", float("nan")),
                             figures["answer_s"]])
        finally:
            if playwright is not None:
                playwright.stop()
        shutil.rmtree(Path(tmp) / "gradio", ignore_errors=True)

    print_table(["", "http 200 s", "browser ready s", "first /ask answered s"],
                [[r[0], *(round(v, 2) for v in r[1:])] for r in rows])
    ready = [r.get("browser_s", r["http_s"]) for r in runs]
    median = statistics.median(ready)
    print(f"\npage ready, median of {len(ready)}: {median:.2f} s "
          f"({'browser' if use_browser else 'http'}; target <= {TARGET_S:.0f} s: {verdict(median, TARGET_S)}); "
          f"worst {max(ready):.2f} s")
    write_json(args.json, {"runs": runs, "page_ready_median_s": median, "target_s": TARGET_S})


if __name__ == "__main__":
    main()
