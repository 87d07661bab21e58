"""Start each planned experiment at its time while the load runs; stop them all, rollbacks included.

In: a ``FaultPlan`` and a ``ChaosContext`` (from the orchestrator), then ``start(load_start_s)`` when
the load starts, ``record_traffic(...)`` for every load progress report, and ``stop()`` when the load
is over or the run is interrupted.  Out: one thread per experiment (``runner.run_fault``), started at
``load_start_s + offset_s`` on the run clock; ``chaos/live.jsonl`` for ``slo_holds``;
``logs/chaos.log`` (chaoslib's log); ``chaos_skipped`` events for experiments whose time never came.
While it exists, in-process chaostoolkit-kubernetes targets the run's cluster (``kibench_kubeconfig``).

``stop()`` interrupts experiments still running (they stop before their next activity, then play
their rollbacks to the end) and waits for them up to ``stop_timeout_s``; it is idempotent.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from harness.chaos import interrupt
from harness.chaos.live import LIVE_FILE, LiveStatsWriter
from harness.chaos.plan import FaultPlan, PlannedFault
from harness.chaos.runner import ChaosContext, FaultOutcome, run_fault, use_kubeconfig

_CHAOS_LOGGER = "chaostoolkit"


@dataclass
class _Running:
    fault: PlannedFault
    token: interrupt.RunToken
    thread: threading.Thread


class ChaosRun:
    """The chaos side of one run."""

    def __init__(self, plan: FaultPlan, context: ChaosContext, stop_timeout_s: float = 120.0) -> None:
        self.plan = plan
        self.context = context
        self.stop_timeout_s = stop_timeout_s
        self.outcomes: list[FaultOutcome] = []
        self._running: list[_Running] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._stopped = False
        context.chaos_dir.mkdir(parents=True, exist_ok=True)
        self.live = LiveStatsWriter(context.chaos_dir / LIVE_FILE)
        self._log_handler = _attach_log(context.run_dir / "logs" / "chaos.log")
        self._restore_kubeconfig = use_kubeconfig(context.configuration.get("kibench_kubeconfig"))

    def start(self, load_start_s: float) -> None:
        """Schedule every fault relative to the load start (the first call wins)."""
        with self._lock:
            if self._scheduler is not None or self._stopping.is_set():
                return
            self._scheduler = threading.Thread(
                target=self._schedule, args=(load_start_s,), name="chaos-scheduler", daemon=True
            )
            self._scheduler.start()

    def record_traffic(self, t_s: float, requests: int, errors: int, p95_ms: float | None) -> None:
        self.live.record(t_s, requests, errors, p95_ms)

    def _schedule(self, load_start_s: float) -> None:
        for fault in sorted(self.plan.faults, key=lambda f: (f.offset_s, f.index)):
            due = load_start_s + fault.offset_s
            if self._stopping.wait(max(0.0, due - self.context.now_s())):
                return
            token = interrupt.RunToken()
            thread = threading.Thread(
                target=self._run_one, args=(fault, token, due), name=f"chaos-{fault.name}", daemon=True
            )
            with self._lock:
                if self._stopping.is_set():
                    return
                self._running.append(_Running(fault, token, thread))
                thread.start()

    def _run_one(self, fault: PlannedFault, token: interrupt.RunToken, due_s: float) -> None:
        outcome = run_fault(fault, self.context, token, due_s)
        with self._lock:
            self.outcomes.append(outcome)

    def stop(self) -> list[FaultOutcome]:
        """Cancel faults not yet started, interrupt running ones, wait for their rollbacks."""
        with self._lock:
            if self._stopped:
                return list(self.outcomes)
            self._stopped = True
            self._stopping.set()
            running = list(self._running)
        for item in running:
            item.token.interrupt.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        deadline = self.context.now_s() + self.stop_timeout_s
        for item in running:
            item.thread.join(timeout=max(0.1, deadline - self.context.now_s()))
            if item.thread.is_alive():
                self.context.log(
                    "chaos_warning",
                    fault=item.fault.name,
                    message=f"still running {self.stop_timeout_s:g}s after the stop; "
                    "its rollbacks may not have finished (see logs/chaos.log)",
                )
        started = {item.fault.index for item in running}
        for fault in self.plan.faults:
            if fault.index not in started:
                self.context.log(
                    "chaos_skipped", fault=fault.name, index=fault.index, reason="the run stopped before its time"
                )
        self.live.close()
        _detach_log(self._log_handler)
        self._restore_kubeconfig()
        return list(self.outcomes)


def _attach_log(path: Path) -> logging.Handler:
    """chaoslib logs to the 'chaostoolkit' logger: into logs/chaos.log, not onto the progress display."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(threadName)s] %(message)s"))
    logger = logging.getLogger(_CHAOS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return handler


def _detach_log(handler: logging.Handler) -> None:
    logger = logging.getLogger(_CHAOS_LOGGER)
    logger.removeHandler(handler)
    handler.close()
    if not logger.handlers:
        logger.propagate = True
