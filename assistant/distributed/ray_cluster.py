"""A build's parsing, chunking and embedding in Ray: tasks for documents, one actor per worker
for the model (loaded once each). The build itself (what to reuse, the order rows are written
in, the atomic swap) is the same as without Ray: the pipeline hands the build RayExecutor in
place of its process pool (indexing.build.RemoteTasks) and RayEmbedder in place of the model.

Every node must see the corpus folder and the index folder at the same paths (a shared file
system) and have this package installed with its `distributed` extra.
"""

from __future__ import annotations

import contextlib
import socket
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future
from typing import Any

import numpy as np

from ..config import Settings
from ..errors import ConfigError
from ..indexing.embedding import Embedder, SentenceTransformerEmbedder

TASK_CPUS = 0.25  # a parse or chunk task; with EMBED_CPUS, both kinds run side by side on one core
EMBED_CPUS = 0.75  # an embedding actor
_STARTED: set[str] = set()  # in a worker process: the pool whose initializer it has run


@contextlib.contextmanager
def ray_session(address: str) -> Iterator[int]:
    """Connected to the cluster `address` names ("auto": the one running on this machine, else a new
    local one on its cores) for the length of a build; yields the cluster's CPU count."""
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("--ray: Ray is not installed; run `.venv/bin/pip install -e '.[distributed]'`") from exc
    started_here = False
    if not ray.is_initialized():
        options: dict[str, Any] = {"logging_level": "ERROR", "log_to_driver": False, "include_dashboard": False}
        try:
            if address == "auto":
                try:
                    ray.init(address="auto", **options)
                except ConnectionError:
                    start_local_cluster(**options)  # no cluster running here: a local one
            else:
                _check_reachable(address)  # ray.init would retry for minutes
                ray.init(address=address, **options)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"--ray {address}: cannot connect to a Ray cluster ({exc}); start one with "
                              "`ray start --head` or give its address (HOST:6379 or ray://HOST:10001)") from exc
        started_here = True
    try:
        yield max(1, int(ray.cluster_resources().get("CPU", 1)))
    finally:
        if started_here:
            ray.shutdown()


START_ATTEMPTS = 3


def start_local_cluster(**options: Any) -> None:
    """ray.init: a new Ray cluster on this machine's cores. Ray waits a fixed time for its head
    processes, which a busy machine can pass: a start that times out is tried again, up to
    START_ATTEMPTS in all, and the last failure is raised. (Ray reports these timeouts as
    RuntimeError "Timed out waiting for file ...gcs_server_port" or as a bare Exception "The
    current node timed out during startup", hence the broad except.)"""
    import ray

    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            ray.init(**options)
            return
        except Exception:
            ray.shutdown()
            if attempt == START_ATTEMPTS:
                raise


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--ray {address}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {host}:{port}: {exc.strerror or exc}") from exc


class RayExecutor(Executor):
    """concurrent.futures' Executor over Ray tasks, with a per-worker-process initializer."""

    def __init__(self, workers: int, initializer: Callable[..., None] | None = None,
                 initargs: tuple[Any, ...] = ()) -> None:
        import ray

        self._max_workers = workers  # in_order's window reads it
        self._start: Any = ray.put((uuid.uuid4().hex, initializer, initargs)) if initializer else None
        self._run: Any = ray.remote(num_cpus=TASK_CPUS, max_retries=1)(_run_started)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._run.remote(self._start, fn, args, kwargs).future()  # type: ignore[no-any-return]


def _run_started(start: tuple[str, Callable[..., None], tuple[Any, ...]] | None, fn: Callable[..., Any],
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """fn(*args), once this worker process has run the pool's initializer."""
    if start is not None and start[0] not in _STARTED:
        token, initializer, initargs = start
        initializer(*initargs)
        _STARTED.clear()  # a worker serves one pool at a time
        _STARTED.add(token)
    return fn(*args, **kwargs)


class _EmbedWorker:
    """One model per actor, loaded when the actor starts."""

    def __init__(self, model: str, precision: str, device: str) -> None:
        self.embedder = SentenceTransformerEmbedder(model, precision, device)
        self.embedder.encode(["warm up"])

    def encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        return self.embedder.encode(texts, batch_size=batch_size)


class RayEmbedder:
    """The build's embedder with encode() spread over `workers` actors; everything else (the
    tokenizer chunks are counted with, the vocabulary, the dimension) is the local model's."""

    def __init__(self, local: Embedder, settings: Settings, workers: int) -> None:
        import ray

        self.local = local
        precision = str(getattr(local, "precision", settings.precision))
        actor: Any = ray.remote(num_cpus=EMBED_CPUS)(_EmbedWorker)
        self.actors: list[Any] = [actor.remote(settings.model, precision, settings.device) for _ in range(workers)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.local, name)

    @property
    def name(self) -> str:
        return self.local.name

    @property
    def dimension(self) -> int:
        return self.local.dimension

    @property
    def max_tokens(self) -> int:
        return self.local.max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.local.count_tokens(texts)

    def vocabulary(self) -> list[str]:
        return self.local.vocabulary()

    def encode(self, texts: Sequence[str], batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """The texts' vectors, in order: contiguous shares encoded by the actors at once."""
        import ray

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        share = -(-len(texts) // len(self.actors))
        parts = [actor.encode.remote(texts[i:i + share], batch_size)
                 for actor, i in zip(self.actors, range(0, len(texts), share))]
        return np.concatenate(ray.get(parts)).astype(np.float32, copy=False)

    def close(self) -> None:
        import ray

        for actor in self.actors:
            ray.kill(actor)
        self.actors = []
