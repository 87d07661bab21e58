"""Serving the API: uvicorn on the caller's event loop, or on a loop of its own in a thread.

In: a ``Store``, a bearer token, where to bind (127.0.0.1 and a free port unless told otherwise), TLS (default: a
fresh self-signed certificate, ``tls.py``; kubectl sends no token to an ``http`` server; ``tls=False`` serves
plain HTTP).  Out: ``ApiServer`` (``await start()`` returns the URL; ``write_kubeconfig(path)``; ``await stop()``
ends the watches, then the server), for the daemon; ``ThreadedApiServer`` (a context manager with ``url`` and
``call(fn, *args)``, which runs ``fn`` on the server's loop, where every store call must run), for tests and
benchmarks.  Signal handling is left to the caller: uvicorn's own handlers are not installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn

from harness.platform.local.apiserver.app import ApiApp, create_app
from harness.platform.local.apiserver.kubeconfig import write_kubeconfig
from harness.platform.local.apiserver.pods import LogPath
from harness.platform.local.apiserver.store import Store
from harness.platform.local.apiserver.tls import TlsMaterial, self_signed

T = TypeVar("T")


class _QuietServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its owner."""

    def capture_signals(self) -> Any:  # type: ignore[override]
        return contextlib.nullcontext()


def listen(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket.  ``IPPROTO_TCP`` is named explicitly: asyncio sets TCP_NODELAY only on sockets
    whose ``proto`` says TCP, and without it Nagle's algorithm holds a response's last segment for the client's
    delayed ACK (~40 ms on loopback for answers of a few KiB to 64 KiB)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(False)
    return sock


class ApiServer:
    """The API under uvicorn on the running event loop."""

    def __init__(
        self,
        store: Store,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        log_path: LogPath | None = None,
        tls: bool | TlsMaterial = True,
        **app_options: Any,
    ) -> None:
        self.app: ApiApp = create_app(store, token, log_path, **app_options)
        self.token = token
        self.host, self.port = host, port
        self.tls: TlsMaterial | None = self_signed() if tls is True else (tls or None)
        self.url = ""
        self._server: _QuietServer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        sock = listen(self.host, self.port)
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{'https' if self.tls else 'http'}://{host}:{self.port}"
        # wsproto: the `websockets` library refuses kubectl's subprotocol SPDY/3.1+portforward.k8s.io (a '/')
        options: dict[str, Any] = {"log_level": "warning", "access_log": False, "lifespan": "off", "ws": "wsproto"}
        config = uvicorn.Config(self.app, timeout_keep_alive=120, **options)
        if self.tls is not None:
            with self.tls.files() as (cert, key):
                config = uvicorn.Config(self.app, timeout_keep_alive=120, ssl_certfile=cert, ssl_keyfile=key, **options)
                config.load()  # reads the files now, before they are removed
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises what stopped it
                raise RuntimeError("the API server stopped while starting")
            await asyncio.sleep(0.005)
        return self.url

    @property
    def ca_pem(self) -> bytes | None:
        """The server's certificate (PEM), for clients to trust; None over plain HTTP."""
        return self.tls.cert_pem if self.tls is not None else None

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default") -> None:
        """A kubeconfig for this server (token and certificate included)."""
        write_kubeconfig(path, self.url, self.token, namespace, ca_pem=self.ca_pem)

    async def stop(self, timeout_s: float = 5.0) -> None:
        """End the watches, then the server.  Idle keep-alive connections are cut at once: closing a TLS
        connection politely waits for the client's close_notify, which an idle pooled client never sends."""
        self.app.close()
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self._task.done() and loop.time() < deadline:
            self._abort_connections(idle_only=True)
            await asyncio.wait({self._task}, timeout=0.02)
        if not self._task.done():
            self._server.force_exit = True
            self._abort_connections(idle_only=False)
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task

    def _abort_connections(self, idle_only: bool) -> None:
        assert self._server is not None
        for conn in list(self._server.server_state.connections):
            cycle = getattr(conn, "cycle", None)
            if idle_only and cycle is not None and not cycle.response_complete:
                continue
            transport = getattr(conn, "transport", None)
            if transport is not None:
                transport.abort()


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        return uvloop.new_event_loop()
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        return asyncio.new_event_loop()


class ThreadedApiServer:
    """An ``ApiServer`` on its own event loop in a daemon thread (tests, benchmarks)."""

    def __init__(self, store: Store | None = None, token: str = "kibench-test-token", **server_options: Any) -> None:
        self.store = store if store is not None else Store()
        self.token = token
        self._options = server_options
        self.loop = _new_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="kibench-apiserver", daemon=True)
        self.server: ApiServer | None = None
        self.url = ""

    def start(self) -> ThreadedApiServer:
        self._thread.start()

        async def boot() -> str:
            self.server = ApiServer(self.store, self.token, **self._options)
            return await self.server.start()

        self.url = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(timeout=30)
        return self

    @property
    def ca_pem(self) -> bytes | None:
        return self.server.ca_pem if self.server is not None else None

    def write_kubeconfig(self, path: str | os.PathLike[str], namespace: str = "default") -> None:
        assert self.server is not None, "start() first"
        self.server.write_kubeconfig(path, namespace)

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on the server's loop and return its result (or raise its error)."""

        async def run() -> T:
            return fn(*args, **kwargs)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=30)

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()

    def __enter__(self) -> ThreadedApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
