"""Run one replica of the reference service under uvicorn (``kibench serve`` and the local platform).

In: host, port and a ``ServiceConfig``.  Out: a serving process; on SIGTERM/SIGINT readiness turns
false at once, in-flight requests drain for up to ``grace_s``, then the process exits.
"""

from __future__ import annotations

import asyncio
import signal

import uvicorn

from harness.service.app import ServiceConfig, create_app


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8000, grace_s: float = 30.0) -> None:
    """Serve until SIGTERM/SIGINT; blocking."""
    app = create_app(config)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=int(grace_s),
            lifespan="off",
        )
    )

    def _drain(*_: object) -> None:
        app.state.service.draining = True
        server.should_exit = True

    async def _main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _drain)
        server.capture_signals = _no_capture  # type: ignore[method-assign]
        await server.serve()

    asyncio.run(_main())


class _NoCapture:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _no_capture() -> _NoCapture:
    return _NoCapture()
