"""The one loop every controller of the embedded cluster runs in, and what it does with a controller's error.

In: a controller's ``step`` (a function or coroutine function doing one pass), its interval, its name and
the cluster's event recorder; optionally an ``asyncio.Event`` that wakes it early (the reconcile loop:
every store change) and a ``running`` predicate.  Out: ``step`` called every ``interval_s`` until
cancelled or ``running()`` turns false.  A step that raises does not stop the loop: the error becomes a
``Warning`` Event ``ControllerError`` (``kubectl get events``) and one log record with its traceback,
once; the same error again is counted, not repeated; the first good step after it records
``ControllerRecovered`` with that count.  A different error is recorded again.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from harness.platform.local.objects import Obj

log = logging.getLogger("kibench.local.control")


class Recorder(Protocol):
    def record(self, obj: Obj, reason: str, message: str, type_: str = ..., component: str = ...) -> None: ...


def component_object(name: str) -> Obj:
    """What a controller's own events are about: the control-plane component (a v1 ComponentStatus)."""
    return {"apiVersion": "v1", "kind": "ComponentStatus", "metadata": {"name": name}}


class ErrorsOnce:
    """Records a controller's error once, until the controller works again or fails differently."""

    def __init__(self, name: str, recorder: Recorder | None) -> None:
        self.name, self.recorder = name, recorder
        self.current: str | None = None  # "Type: message" of the error being repeated
        self.repeats = 0

    def failed(self, exc: BaseException) -> None:
        what = f"{type(exc).__name__}: {exc}"
        if what == self.current:
            self.repeats += 1
            return
        self.current, self.repeats = what, 1
        log.error("%s failed: %s (recorded once; the loop goes on)", self.name, what, exc_info=exc)
        self._record("ControllerError", f"{self.name} failed: {what}", "Warning")

    def succeeded(self) -> None:
        if self.current is not None:
            self._record("ControllerRecovered", f"{self.name} works again after {self.repeats} failed passes", "Normal")
            self.current, self.repeats = None, 0

    def _record(self, reason: str, message: str, type_: str) -> None:
        if self.recorder is not None:
            self.recorder.record(component_object(self.name), reason, message, type_, component=self.name)


async def control_loop(
    step: Callable[[], Awaitable[Any] | Any],
    interval_s: float | Callable[[], float],
    name: str,
    recorder: Recorder | None = None,
    *,
    wake: asyncio.Event | None = None,
    min_gap_s: float = 0.0,
    running: Callable[[], bool] = lambda: True,
) -> None:
    """Call ``step`` every ``interval_s`` (with ``wake``: when it is set, and at least every ``interval_s``,
    at most every ``min_gap_s``) while ``running()``; a step's error is recorded once (``ErrorsOnce``)."""
    errors = ErrorsOnce(name, recorder)
    while running():
        period = interval_s() if callable(interval_s) else interval_s
        if wake is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), period)
            wake.clear()
        try:
            result = step()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # noqa: BLE001 - a controller's bug must not stop it: recorded once
            errors.failed(exc)
        else:
            errors.succeeded()
        await asyncio.sleep(min_gap_s if wake is not None else period)
