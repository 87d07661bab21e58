"""The embedded cluster watches itself: is the platform, not the service, the bottleneck?

In: the daemon's event loop, its own process, the forwarder process, the pods' processes and the host's
CPU counters (psutil).  Out: ``SelfCheck.read()``, the figures since the last read (the observer asks
once a second through ``GET /kibench/v1/stats``):

- ``loop_lag_max_ms``: the longest the daemon's event loop was late waking a 50 ms timer (probes,
  controllers and the API all run on it: a late loop means late probes and decisions);
- ``daemon_cpu_cores`` and ``forwarder_cpu_cores``: CPU the control plane and the data path (the forwarder
  and any haproxy of a per-request Service) used;
- ``replicas_cpu_cores``: CPU of every pod process together;
- ``host_cpu_idle_pct``: the host's idle CPU, over all cores.

``harness.analysis.platformchecks`` turns the timeline of these into ``platform_saturated``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

TICK_S = 0.05
RECENT_S = 1.0  # how far back ``saturated_now`` looks
HOST_IDLE_MIN_PCT = 5.0  # as harness.analysis.platformchecks judges a sample
LOOP_LAG_MAX_S = 0.1
HOST_SATURATED = "the host was saturated, so the probe may have waited for a CPU rather than for the pod"


def _cpu_s(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        times = proc.cpu_times()
        return float(times.user + times.system)
    return 0.0


class SelfCheck:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.me = psutil.Process(os.getpid())
        self.lag_max_s = 0.0
        self._mark = self._marks()
        self._recent_at, self._recent_cpu = time.monotonic(), psutil.cpu_times()
        self._recent_lag_s = self._last_lag_s = 0.0
        self._recent_idle_pct = self._last_idle_pct = 100.0

    def _marks(self) -> dict[str, float]:
        data_path = 0.0  # the forwarder and every haproxy
        for pid in self.cluster.balancers.pids():
            with contextlib.suppress(psutil.Error):
                data_path += _cpu_s(psutil.Process(pid))
        host = psutil.cpu_times()
        replicas = 0.0
        for rt in list(self.cluster.kubelet.runtimes.values()):
            if rt.proc is not None and rt.proc.returncode is None:
                with contextlib.suppress(psutil.Error):
                    replicas += _cpu_s(psutil.Process(rt.proc.pid))
        return {
            "t": time.monotonic(),
            "daemon": _cpu_s(self.me),
            "forwarder": data_path,
            "replicas": replicas,
            "host_idle": float(host.idle),
            "host_total": float(sum(host)),
        }

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(TICK_S)
            lag = loop.time() - start - TICK_S
            self.lag_max_s = max(self.lag_max_s, lag)
            self._recent_lag_s = max(self._recent_lag_s, lag)
            if time.monotonic() - self._recent_at >= RECENT_S:
                self._roll()

    def _roll(self) -> None:
        """Close one ``RECENT_S`` window of host idle CPU and loop lag (kept with the one before it)."""
        now, cpu = time.monotonic(), psutil.cpu_times()
        total = sum(cpu) - sum(self._recent_cpu)
        idle = 100.0 * (cpu.idle - self._recent_cpu.idle) / total if total > 0 else 100.0
        self._last_idle_pct, self._recent_idle_pct = self._recent_idle_pct, idle
        self._last_lag_s, self._recent_lag_s = self._recent_lag_s, 0.0
        self._recent_at, self._recent_cpu = now, cpu

    def saturated_now(self) -> str | None:
        """Why the host or the daemon counts as saturated over the last one or two seconds, or ``None``."""
        idle = min(self._recent_idle_pct, self._last_idle_pct)
        lag_s = max(self._recent_lag_s, self._last_lag_s)
        causes = []
        if idle < HOST_IDLE_MIN_PCT:
            causes.append(f"{idle:.0f}% idle CPU")
        if lag_s > LOOP_LAG_MAX_S:
            causes.append(f"the platform's event loop {lag_s * 1000:.0f} ms late")
        return ", ".join(causes) or None

    def read(self) -> dict[str, float]:
        now, old = self._marks(), self._mark
        self._mark = now
        wall = max(now["t"] - old["t"], 1e-6)
        total = now["host_total"] - old["host_total"]
        out = {
            "loop_lag_max_ms": round(self.lag_max_s * 1000, 3),
            "daemon_cpu_cores": round(max(now["daemon"] - old["daemon"], 0) / wall, 4),
            "forwarder_cpu_cores": round(max(now["forwarder"] - old["forwarder"], 0) / wall, 4),
            "replicas_cpu_cores": round(max(now["replicas"] - old["replicas"], 0) / wall, 4),
            "host_cpu_idle_pct": round(100.0 * (now["host_idle"] - old["host_idle"]) / total, 2)
            if total > 0
            else 100.0,
        }
        self.lag_max_s = 0.0
        return out
