"""A real uvicorn serving an app on loopback in a thread: a stalled event loop shows as a client timeout."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def running(config: uvicorn.Config, *, start_seconds: float = 30) -> Iterator[str]:
    """The base URL while uvicorn serves `config`; its lifespan (and engine disposal) runs in the server's loop."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_seconds
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the gateway did not start")
        time.sleep(0.02)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        # A server stuck in a handler never exits; the daemon thread then ends with the test process.
        thread.join(timeout=30)


@contextlib.contextmanager
def served(app: Starlette) -> Iterator[str]:
    """The app on loopback with uvicorn's defaults; its base URL."""
    with running(uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_config=None)) as url:
        yield url
