"""Faults on demand: the replica admin API of docs/local-api.md and the fault state it sets.

In: ``POST /admin/{latency,errors,hang,crash,slow-start,reset}`` with ``Authorization: Bearer <token>``;
the routes exist only when ``KIBENCH_ADMIN_TOKEN`` is set (401 without a token, 403 with a wrong one,
422 naming the field for a bad body).  Out: a ``Faults`` object the request edge and the inference
routes consult (added latency, a failing fraction, a hang that stops every answer, liveness included)
and, for slow-start, a file in ``KIBENCH_STATE_DIR`` that the next boot reads once and removes.

The admin routes themselves keep answering during a hang, so chaos rollbacks can clear it.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harness.service.schemas import (
    ApiError,
    FaultCrash,
    FaultErrors,
    FaultHang,
    FaultLatency,
    FaultReset,
    FaultSlowStart,
    parse,
    read_body,
)

SLOW_START_FILE = "slow-start.json"


class Faults:
    """The active faults; expiry is checked against ``time.monotonic()`` when consulted."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._unhung = asyncio.Event()
        self._unhung.set()
        self._hang_timer: asyncio.TimerHandle | None = None
        self.hung = False  # every answer (liveness included) waits while True
        self.reset()

    def reset(self) -> None:
        self.add_s, self.add_until_s = 0.0, None
        self.error_fraction, self.error_status, self.error_until_s = 0.0, 500, None
        self.unhang()

    @property
    def active(self) -> bool:
        return self.add_s > 0 or self.error_fraction > 0 or self.hung

    def add_latency(self, add_s: float, duration_s: float | None) -> None:
        self.add_s = add_s
        self.add_until_s = None if duration_s is None else time.monotonic() + duration_s

    def fail(self, fraction: float, status: int, duration_s: float | None) -> None:
        self.error_fraction, self.error_status = fraction, status
        self.error_until_s = None if duration_s is None else time.monotonic() + duration_s

    def latency_s(self) -> float:
        if self.add_until_s is not None and time.monotonic() >= self.add_until_s:
            self.add_s, self.add_until_s = 0.0, None
        return self.add_s

    def injected_status(self) -> int | None:
        """The status to fail this request with, or None."""
        if self.error_until_s is not None and time.monotonic() >= self.error_until_s:
            self.error_fraction, self.error_until_s = 0.0, None
        if self.error_fraction > 0 and self._rng.random() < self.error_fraction:
            return self.error_status
        return None

    async def wait_unhung(self) -> None:
        await self._unhung.wait()

    def hang(self, duration_s: float | None) -> None:
        self.hung = True
        self._unhung.clear()
        if self._hang_timer is not None:
            self._hang_timer.cancel()
        if duration_s is not None:
            self._hang_timer = asyncio.get_running_loop().call_later(duration_s, self.unhang)

    def unhang(self) -> None:
        if self._hang_timer is not None:
            self._hang_timer.cancel()
            self._hang_timer = None
        self.hung = False
        self._unhung.set()


def take_slow_start(state_dir: str | None) -> float | None:
    """The cold start a slow-start fault asked for (read once: the file is removed)."""
    if not state_dir:
        return None
    path = Path(state_dir) / SLOW_START_FILE
    try:
        seconds = float(json.loads(path.read_text(encoding="utf-8"))["cold_start_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    path.unlink(missing_ok=True)
    return seconds


def admin_routes(faults: Faults, token: str, state_dir: str | None, exit_fn: Callable[[int], Any]) -> list[Route]:
    """The admin routes, each behind the bearer token."""

    async def body_of(request: Request, model: type[BaseModel]) -> Any:
        auth = request.headers.get("authorization", "")
        if not auth:
            err = ApiError(401, "missing bearer token: send Authorization: Bearer <KIBENCH_ADMIN_TOKEN>")
            err.headers["WWW-Authenticate"] = "Bearer"
            raise err
        scheme, _, given = auth.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
            raise ApiError(403, "wrong bearer token for the admin API", code="forbidden")
        return parse(await read_body(request.scope, request.receive, 1 << 16), model)

    def endpoint(model: type[BaseModel], act: Callable[[Any], dict[str, Any]]) -> Callable[..., Any]:
        async def handle(request: Request) -> Response:
            try:
                body = await body_of(request, model)
                return JSONResponse({"ok": True, **act(body)})
            except ApiError as err:
                return JSONResponse(err.body(), err.status, err.headers)

        return handle

    def latency(body: FaultLatency) -> dict[str, Any]:
        faults.add_latency(body.add_ms / 1000.0, body.duration_s)
        return {"add_ms": body.add_ms, "duration_s": body.duration_s}

    def errors(body: FaultErrors) -> dict[str, Any]:
        faults.fail(body.fraction, body.status, body.duration_s)
        return {"fraction": body.fraction, "status": body.status, "duration_s": body.duration_s}

    def hang(body: FaultHang) -> dict[str, Any]:
        faults.hang(body.duration_s)
        return {"duration_s": body.duration_s}

    def crash(body: FaultCrash) -> dict[str, Any]:
        asyncio.get_running_loop().call_later(0.05, exit_fn, body.exit_code)
        return {"exit_code": body.exit_code}

    def slow_start(body: FaultSlowStart) -> dict[str, Any]:
        if not state_dir:
            raise ApiError(409, "slow-start needs KIBENCH_STATE_DIR set to keep it across restarts", code="no_state")
        path = Path(state_dir) / SLOW_START_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"cold_start_s": body.cold_start_s}), encoding="utf-8")
        return {"cold_start_s": body.cold_start_s, "path": str(path)}

    def reset(_: BaseModel) -> dict[str, Any]:
        faults.reset()
        return {}

    return [
        Route("/admin/latency", endpoint(FaultLatency, latency), methods=["POST"]),
        Route("/admin/errors", endpoint(FaultErrors, errors), methods=["POST"]),
        Route("/admin/hang", endpoint(FaultHang, hang), methods=["POST"]),
        Route("/admin/crash", endpoint(FaultCrash, crash), methods=["POST"]),
        Route("/admin/slow-start", endpoint(FaultSlowStart, slow_start), methods=["POST"]),
        Route("/admin/reset", endpoint(FaultReset, reset), methods=["POST"]),
    ]
