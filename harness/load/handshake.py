"""The handshake that gives workers in the cluster the master's address, their config, index and the run's clock.

``master_address``: a worker pod finds the master through the Service's links (``<NAME>_SERVICE_HOST`` /
``_PORT``, which a kubelet sets for a Service that exists when the pod starts), else through its DNS name.
In (master, ``Handshake``): the master's ``LoadConfig`` and its Locust master runner, once ``workers`` have
connected.  In (worker, ``worker_config``): the ``kb_config`` message's data, the worker's own output folder and
its ``CLOCK_MONOTONIC`` reading when the message arrived.  Out: each worker's ``LoadConfig`` (its index among
the workers, the master's config otherwise), with the run's clock origin moved onto the worker's own clock, and
the bound on the clock error that the master reports with ``load_start`` (``clock_error_bound_ms``).

Clock.  A local worker shares the master's ``CLOCK_MONOTONIC`` and its run-time origin ``t0_monotonic`` comes in
its config; a worker on another machine does not, and an absolute monotonic time means nothing there.  So the
master sends its current run time ``master_run_time_s`` in ``kb_config``, and the worker sets
``t0_monotonic = (its monotonic clock on receipt) - master_run_time_s``: from then on its run time is the
master's, late by the message's one-way delay, never early.  Every row it records, and ``kb_start``'s
``load_start_s`` (sent, as for local workers, in run time), are on that corrected base, so rows from every worker
and the run's events share one time axis.  The worker echoes ``master_run_time_s`` in ``kb_configured`` with
``held_s``, the time it took between receipt and answer; the round trip the master measures, less that, bounds
the error (one way <= round trip; inside a cluster well under a
millisecond, on loopback tens of microseconds), and is reported rather than assumed.  Monotonic clocks drift
against each other by parts per million at most: negligible over a benchmark's minutes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from harness import deployspec
from harness.errors import LoadError
from harness.load.config import LoadConfig

CONFIG_TIMEOUT_S = 30.0
RESEND_S = 1.0
START_LEAD_S = 0.05


def worker_config(data: dict[str, Any], out_dir: str, received_monotonic_s: float) -> LoadConfig:
    """The worker's config from ``kb_config``: its index, its own folder, the run's clock on its own clock."""
    cfg = LoadConfig.from_json(str(data["config"]))
    t0 = received_monotonic_s - float(data["master_run_time_s"])
    return replace(cfg, out_dir=out_dir, t0_monotonic=t0)


def master_address(service: str = deployspec.LOAD_MASTER_SERVICE, port: int = deployspec.LOAD_MASTER_PORT,
                   env: dict[str, str] | None = None) -> tuple[str, int]:  # fmt: skip
    """The master's address from the Service's links (``<NAME>_SERVICE_HOST``/``_PORT``), else its DNS name."""
    env = dict(os.environ) if env is None else env
    prefix = service.upper().replace("-", "_")
    host = env.get(f"{prefix}_SERVICE_HOST")
    if host:
        return host, int(env.get(f"{prefix}_SERVICE_PORT") or port)
    return service, port


class Handshake:
    """The master's side: hand each connected worker its config and measure the round trip."""

    def __init__(self, cfg: LoadConfig, runner: Any) -> None:
        self.cfg, self.runner = cfg, runner
        self.round_trip_s: dict[int, float] = {}

    def now_s(self) -> float:
        return time.monotonic() - self.cfg.t0_monotonic

    def configure(self, wait: Callable[[Callable[[], bool], float], bool]) -> None:
        """Send ``kb_config`` to the first ``workers`` connected workers (by id) until each answers ``kb_configured``.

        Sent again every ``RESEND_S`` to a worker that has not answered: Locust lets the master talk to a worker
        as soon as it has acknowledged it, a moment before the worker has registered its handlers (a message
        that arrives then is dropped).  The worker keeps the first copy it takes and echoes that one."""
        clients = sorted(c.id for c in self.runner.clients.all)[: self.cfg.workers]
        logs = os.path.join(self.cfg.out_dir, "logs")
        os.makedirs(logs, exist_ok=True)
        configs = {}
        for index in range(len(clients)):
            worker = self.cfg.for_process("worker", index)
            configs[index] = worker.to_json()
            with open(os.path.join(logs, f"loadconfig-{worker.worker}.json"), "w", encoding="utf-8") as fh:
                fh.write(configs[index])  # as the launcher writes a local worker's
        deadline = time.monotonic() + CONFIG_TIMEOUT_S
        while time.monotonic() < deadline:
            for index, client_id in enumerate(clients):
                if index not in self.round_trip_s:
                    data = {"index": index, "config": configs[index], "master_run_time_s": self.now_s()}
                    self.runner.send_message("kb_config", data, client_id=client_id)
            if wait(lambda: len(self.round_trip_s) >= len(clients), RESEND_S):
                return
        raise LoadError(f"{len(self.round_trip_s)} of {len(clients)} load workers took their config in "
                        f"{CONFIG_TIMEOUT_S:g}s")  # fmt: skip

    def on_configured(self, data: dict[str, Any]) -> None:
        held_s = float(data.get("held_s") or 0.0)  # the worker's time between receipt and answer: not in transit
        self.round_trip_s[int(data["index"])] = self.now_s() - float(data["echo_s"]) - held_s

    def start_lead_s(self) -> float:
        """How far ahead ``kb_start`` names the start: 50 ms, plus two of the slowest round trips (at most 2 s)."""
        return START_LEAD_S + min(2.0, 2 * max(self.round_trip_s.values(), default=0.0))

    def clock_fields(self) -> dict[str, Any]:
        """For the ``load_start`` line: the largest round trip, which bounds every worker's clock error."""
        if not self.round_trip_s:
            return {}
        return {"clock_error_bound_ms": round(max(self.round_trip_s.values()) * 1000.0, 3)}
