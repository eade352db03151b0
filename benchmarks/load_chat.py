"""Load on the web chat: N concurrent clients asking through /ask for T seconds (127.0.0.1 only).

Each client is a thread with its own HTTP connection that asks, waits for the answer and
asks again, cycling through the dev questions (when /work/shared/eval/dev_qa.jsonl exists)
and the built-in ones, each client starting at a different question. A call goes through
Gradio's queue exactly as a page's or gradio_client's does: POST /gradio_api/call/ask, then
read the event stream until `complete`. Latency is from the POST to the answer. An error is
any HTTP failure, an `error` event, a stream without an answer, or an answer that is not the
`assistant ask --json` object for the question sent. Targets: zero errors, p95 <= 1 s.

By default the script starts `assistant serve` itself on the bundled corpus (index built in
a temp folder first); --url points it at a server already running on this machine.

--servers N starts N servers and spreads the clients over them. With --milvus-lite (a local
Milvus server started here) or --store milvus://HOST:PORT/COLLECTION, the index is published
to that collection and every server answers from it (docs/scaling.md, Scaling out).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import numpy as np
from _common import (
    BUNDLED_CORPUS,
    DEV_QA,
    REPO_ROOT,
    answer_from_event,
    free_port,
    load_questions,
    milvus_lite_server,
    print_header,
    verdict,
    write_json,
)

P95_TARGET_MS = 1000.0
KEYS = {"question", "answer", "abstained", "citations", "closest", "searched"}


def ask(client: httpx.Client, base: str, question: str) -> dict[str, Any]:
    """One /ask call through the queue; raises RuntimeError on anything but a proper answer."""
    response = client.post(f"{base}gradio_api/call/ask", json={"data": [question]})
    response.raise_for_status()
    event_id = response.json()["event_id"]
    event = ""
    with client.stream("GET", f"{base}gradio_api/call/ask/{event_id}") as stream:
        stream.raise_for_status()
        for line in stream.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "complete":
                answer = answer_from_event(line[5:])
                if set(answer) != KEYS or answer["question"] != " ".join(question.split()):
                    raise RuntimeError(f"unexpected answer for {question!r}: {str(answer)[:200]}")
                return dict(answer)
            elif line.startswith("data:") and event == "error":
                raise RuntimeError(f"error event: {line[5:200]}")
    raise RuntimeError("the event stream ended without an answer")


def client_loop(n: int, base: str, questions: list[str], deadline: float, results: list[tuple[float, bool]],
                errors: Counter[str], lock: threading.Lock) -> None:
    with httpx.Client(timeout=60.0) as client:
        i = n
        while time.perf_counter() < deadline:
            question = questions[i % len(questions)]
            i += 1
            started = time.perf_counter()
            try:
                answer = ask(client, base, question)
                with lock:
                    results.append((time.perf_counter() - started, bool(answer["abstained"])))
            except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:
                with lock:
                    errors[f"{type(exc).__name__}: {str(exc)[:120]}"] += 1


def start_server(corpus: Path, index: Path, port: int, store: str, stack: contextlib.ExitStack) -> None:
    """A chat server on `port`, stopped when `stack` closes (also when a later one fails to start);
    one that exits before it answers is an error that quotes the end of what it wrote."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    log = stack.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 (closed by the stack)
    process = subprocess.Popen([sys.executable, "-m", "assistant", "serve", "--port", str(port), "--corpus",
                                str(corpus), "--index", str(index), "-q", *(["--store", store] if store else [])],
                               cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
    stack.callback(_stop, process)
    deadline = time.perf_counter() + 180
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            log.seek(0)
            said = log.read().decode("utf-8", "replace")[-1500:]
            raise SystemExit(f"the server exited with {process.returncode}:\n{said}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit("the server did not come up in 180 s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--url", help="a running server on this machine (default: start one)")
    parser.add_argument("--corpus", type=Path, default=BUNDLED_CORPUS)
    parser.add_argument("--servers", type=int, default=1, help="servers to start; clients are spread over them")
    parser.add_argument("--store", default="", help="milvus://HOST:PORT/COLLECTION every server answers from")
    parser.add_argument("--milvus-lite", action="store_true", help="start a local Milvus server for --store")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    print_header(f"web chat load: {args.clients} clients for {args.seconds:.0f} s on {args.servers} server(s)")
    if args.clients < 1 or args.clients > 200 or args.seconds <= 0 or args.seconds > 600:
        raise SystemExit("--clients must be 1-200 and --seconds at most 600")
    if not 1 <= args.servers <= 8 or (args.url and args.servers != 1):
        raise SystemExit("--servers must be 1-8 (and 1 with --url)")
    questions = load_questions(DEV_QA)

    with tempfile.TemporaryDirectory(prefix="load-chat-") as tmp, contextlib.ExitStack() as stack:
        store = args.store
        if args.milvus_lite:
            store = f"milvus://{stack.enter_context(milvus_lite_server(Path(tmp) / 'milvus'))}/load_chat"
        if args.url:
            bases = [args.url if args.url.endswith("/") else args.url + "/"]
            if urlparse(bases[0]).hostname not in {"127.0.0.1", "localhost", "::1"}:
                raise SystemExit("--url: this load script only runs against this machine (127.0.0.1)")
        else:
            index = Path(tmp) / "index"
            subprocess.run([sys.executable, "-m", "assistant", "index", "-q", "--corpus", str(args.corpus),
                            "--index", str(index), *(["--store", store] if store else [])],
                           cwd=REPO_ROOT, check=True, stdout=subprocess.DEVNULL)
            bases = []
            for _ in range(args.servers):
                port = free_port()
                start_server(args.corpus, index, port, store, stack)
                bases.append(f"http://127.0.0.1:{port}/")
        base = " ".join(bases)
        with httpx.Client(timeout=60.0) as warm:  # each question once on each server: caches, first calls
            for server in bases:
                for question in questions:
                    ask(warm, server, question)
        results: list[tuple[float, bool]] = []
        errors: Counter[str] = Counter()
        lock = threading.Lock()
        deadline = time.perf_counter() + args.seconds
        threads = [threading.Thread(target=client_loop, args=(n, bases[n % len(bases)], questions, deadline,
                                                              results, errors, lock))
                   for n in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started

    ms = np.array([r[0] for r in results]) * 1000.0
    n_errors = sum(errors.values())
    print(f"server:    {base} ({'given' if args.url else 'started by this script'}; "
          f"index {store or 'embedded'})")
    print(f"questions: {len(questions)} distinct, cycled; {sum(r[1] for r in results)} of {len(results)} "
          f"answers were 'not covered'")
    print(f"answers:   {len(results)} in {elapsed:.1f} s ({len(results) / elapsed:.1f}/s)")
    print(f"errors:    {n_errors}" + "".join(f"\n  {count} x {kind}" for kind, count in errors.most_common()))
    if len(ms):
        p50, p95, p99 = (float(np.percentile(ms, q)) for q in (50, 95, 99))
        print(f"latency:   p50 {p50:.0f} ms, p95 {p95:.0f} ms, p99 {p99:.0f} ms, max {ms.max():.0f} ms")
        print(f"targets:   zero errors: {'PASS' if n_errors == 0 else 'FAIL'}; "
              f"p95 <= {P95_TARGET_MS:.0f} ms: {verdict(p95, P95_TARGET_MS)}")
        write_json(args.json, {"clients": args.clients, "servers": len(bases), "store": "milvus" if store
                               else "embedded", "seconds": args.seconds, "answers": len(results),
                               "errors": n_errors, "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                               "max_ms": float(ms.max())})


if __name__ == "__main__":
    main()
