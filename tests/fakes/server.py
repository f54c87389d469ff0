"""What every fake server shares: start and stop as a context manager, and a threaded
HTTP/1.1 server on 127.0.0.1 that stops at once even mid-stream.

The fakes (``compat_api``, ``telnyx_api``, ``seaweed``) each say what they serve;
the plumbing of starting, stopping and being used in a ``with`` is written here once.
"""

from __future__ import annotations

import contextlib
import http.server
import socket
import sys
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self


class Served:
    """``start()`` and ``stop()``, also as ``with fake:`` (stop however the block ends)."""

    def start(self) -> Any:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Handler(http.server.BaseHTTPRequestHandler):
    """Every request, whatever its method, goes to the server's ``handle``."""

    protocol_version = "HTTP/1.1"
    server_version = "FakeTwilio/1.0"
    sys_version = ""
    timeout = 120  # an idle keep-alive connection is dropped after this
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _dispatch(self) -> None:
        self.server.owner.handle(self)

    do_GET = _dispatch
    do_HEAD = _dispatch
    do_DELETE = _dispatch
    do_POST = _dispatch
    do_PUT = _dispatch
    do_PATCH = _dispatch
    do_OPTIONS = _dispatch


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a worker killed mid-download) is no news here."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def __init__(self, owner: ThreadedHTTPServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", owner.requested_port), Handler)


class ThreadedHTTPServer(Served):
    """``handle(handler)`` answers each request, in a thread of its own.

    ``stopping`` is set while stopping, so a handler streaming or stalling can
    end; ``stop`` also shuts every open connection, which wakes handlers
    blocked reading or writing, so it returns quickly whatever they do.
    """

    def __init__(
        self, handle: Callable[[Handler], None], *, port: int = 0, name: str = "fake"
    ) -> None:
        self.handle = handle
        self.requested_port = port
        self.name = name
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError("already started")
        self.stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; returns quickly even while a response is stalled or streaming."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self.stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wake handlers blocked reading or writing
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._server = None
        self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("not started")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- called from handler threads

    def track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
