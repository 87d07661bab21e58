"""Run one replica of the reference service under uvicorn (``kibench serve`` and the local platform).

In: host, port, a ``ServiceConfig`` and the grace period.  Out: a serving process.  The model boots in
the background (probes answer at once; /readyz turns 200 after load + warm-up).  On SIGTERM/SIGINT
readiness turns false at once, in-flight inference requests drain for up to ``grace_s`` (and, while it
drains, every response says ``Connection: close``; it waits until no request came for ``DRAIN_QUIET_S``, so
a keep-alive client's next request is answered rather than cut off), then uvicorn shuts down (whatever is
still running when the grace period ends is cancelled) and the process exits 0.  A second signal exits at
once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable

import uvicorn

from harness.service.app import create_app
from harness.service.config import ServiceConfig

log = logging.getLogger("harness.service")
DRAIN_QUIET_S = 0.3  # after the last in-flight request: no request for this long before the server closes


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8000, grace_s: float = 30.0) -> None:
    """Serve until SIGTERM/SIGINT; blocking."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app(config)
    svc = app.state.service
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=max(1, int(grace_s)),
            lifespan="on",
        )
    )
    drain: list[asyncio.Task[None]] = []

    async def _drain() -> None:
        start = time.monotonic()
        drained = await svc.wait_idle(grace_s)
        if drained:  # keep-alive clients get their next answer with Connection: close first (Service.wait_quiet)
            drained = await svc.wait_quiet(DRAIN_QUIET_S, max(0.0, grace_s - (time.monotonic() - start)))
        left_s = max(0.1, grace_s - (time.monotonic() - start))
        log.info("replica %s: %s after %.3fs; shutting down", config.replica,
                 "drained" if drained else "grace period over", time.monotonic() - start)  # fmt: skip
        server.config.timeout_graceful_shutdown = left_s  # type: ignore[assignment]
        server.should_exit = True

    def _on_signal() -> None:
        if drain:
            server.force_exit = True
            server.should_exit = True
            return
        svc.begin_drain()
        drain.append(asyncio.get_running_loop().create_task(_drain()))

    async def _main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _on_signal)
        server.capture_signals = _no_capture  # type: ignore[method-assign]
        await server.serve()

    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(_main())


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop when installed (uvicorn[standard] brings it), as uvicorn itself would pick."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


class _NoCapture:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _no_capture() -> _NoCapture:
    return _NoCapture()
