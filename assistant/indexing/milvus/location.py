"""`milvus://HOST:PORT/COLLECTION`: where a Milvus-served index lives, and the connection to it."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigError, IndexError_

SCHEME = "milvus://"
DEFAULT_PORT = 19530
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_URL = re.compile(r"milvus://(?P<host>\[[^\]]+\]|[^:/]+)(?::(?P<port>\d+))?/(?P<collection>[^/?#]*)")
# gRPC keepalive the server accepts. A gRPC server's default policy allows a client ping at most
# every 5 minutes, and none while no call is open; pymilvus' default (every 10 s, also between
# calls) breaks that policy whenever a call or a pause runs long, and the server answers with
# GOAWAY "too_many_pings", dropping the connection. A connection that does drop is re-opened by
# pymilvus on the next call (UNAVAILABLE: reconnect, then the call again).
KEEPALIVE = {
    "grpc.keepalive_time_ms": 300_000,
    "grpc.keepalive_timeout_ms": 20_000,
    "grpc.keepalive_permit_without_calls": 0,
}


@dataclass(frozen=True)
class MilvusLocation:
    host: str
    port: int
    collection: str  # the alias the served version is reached by

    @property
    def uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __str__(self) -> str:
        return f"{SCHEME}{self.host}:{self.port}/{self.collection}"


def parse_location(value: str) -> MilvusLocation | None:
    """The Milvus location a --store value names; None for "" (the embedded index)."""
    value = value.strip()
    if not value:
        return None
    found = _URL.fullmatch(value)
    if found is None:
        raise ConfigError(f"--store {value!r}: expected milvus://HOST:PORT/COLLECTION "
                          "(or nothing, for the embedded index)")
    collection = found["collection"]
    if not _NAME.fullmatch(collection):
        raise ConfigError(f"--store {value!r}: the collection name must be letters, digits and underscores, "
                          "not starting with a digit, at most 100 characters")
    return MilvusLocation(found["host"], int(found["port"] or DEFAULT_PORT), collection)


def connect(location: MilvusLocation, timeout: float = 10.0) -> Any:
    """A client of the server at `location`, or one clear line saying it cannot be reached."""
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError as exc:
        raise ConfigError(f"--store {location}: Milvus' client is not installed; "
                          "run `.venv/bin/pip install -e '.[milvus]'`") from exc
    # pymilvus logs every failed call (a missing alias, say) and iterator notes on stderr; what
    # fails is said here, in one line, by the caller.
    logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
    try:
        return MilvusClient(uri=location.uri, timeout=timeout, grpc_options=KEEPALIVE)
    except MilvusException as exc:
        raise IndexError_(f"{location}: cannot reach a Milvus server at {location.host}:{location.port} "
                          f"({exc.message}); start it (a local one: `python -m milvus_lite server --data-dir DIR "
                          f"--port {location.port}`) or correct --store / ASSISTANT_STORE") from exc
