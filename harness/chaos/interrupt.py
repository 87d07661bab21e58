"""Interrupting an experiment that runs on a harness thread, without losing its rollbacks.

In: a ``RunToken`` bound to the thread that runs one experiment (``bind``), and the interrupt event
the scheduler sets when the run stops early.  Out:

* a Chaos Toolkit *control* (this module, injected into every experiment the harness runs):
  ``before_activity_control`` raises ``InterruptExecution`` once the token is interrupted, so
  chaoslib stops the hypothesis or method where it is, marks the journal ``interrupted`` and plays
  the rollbacks; ``before_rollback_control`` marks the token so that rollbacks are never cut short;
* ``sleep``: an interruptible wait for provider functions and for chaoslib's pauses
  (``install_pause_shim`` points ``chaoslib.activity``'s ``time`` at a shim whose ``sleep`` is this
  one; nothing else in chaoslib or the process changes).  With no token bound (``chaos run`` on the
  command line, background activities on chaoslib's pool threads) it is a plain ``time.sleep``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from chaoslib.exceptions import InterruptExecution

CONTROL: dict[str, Any] = {
    "name": "kibench-interrupt",
    "provider": {"type": "python", "module": "harness.chaos.interrupt"},
}

_local = threading.local()


@dataclass
class RunToken:
    """Mutable per-experiment flags (the scheduler sets ``interrupt``; the control sets ``rolling_back``)."""

    interrupt: threading.Event = field(default_factory=threading.Event)
    rolling_back: bool = False


def bind(token: RunToken | None) -> None:
    """Attach ``token`` to the calling thread (None detaches)."""
    _local.token = token


def current() -> RunToken | None:
    return getattr(_local, "token", None)


def interrupted() -> bool:
    """True when this thread's experiment was interrupted and is not yet rolling back."""
    token = current()
    return token is not None and token.interrupt.is_set() and not token.rolling_back


def sleep(seconds: float) -> None:
    """Wait ``seconds``; returns early once this thread's experiment is interrupted (rollbacks excepted)."""
    token = current()
    if seconds <= 0:
        return
    if token is None or token.rolling_back:
        time.sleep(seconds)
    else:
        token.interrupt.wait(seconds)


# ---- the Chaos Toolkit control interface ----------------------------------------------------------
def before_activity_control(context: Any, **kwargs: Any) -> None:
    """Stop before the next probe or action once the run is interrupted."""
    if interrupted():
        name = context.get("name") if isinstance(context, dict) else context
        raise InterruptExecution(f"kibench run interrupted before activity {name!r}; rollbacks follow")


def before_rollback_control(context: Any, **kwargs: Any) -> None:
    """From here on nothing is interrupted: rollbacks always run to the end."""
    token = current()
    if token is not None:
        token.rolling_back = True


# ---- chaoslib's pauses ----------------------------------------------------------------------------
class _PauseClock:
    """Stands in for the ``time`` module inside ``chaoslib.activity`` only."""

    sleep = staticmethod(sleep)

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)


def install_pause_shim() -> None:
    """Make chaoslib's activity pauses interruptible (idempotent)."""
    import chaoslib.activity

    if not isinstance(chaoslib.activity.time, _PauseClock):
        chaoslib.activity.time = _PauseClock()  # type: ignore[assignment]
