"""The embedded cluster watches itself: is the platform, not the service, the bottleneck?

In: the daemon's event loop, its own process, the forwarder process, the pods' processes and the host's
CPU counters (psutil).  Out: ``SelfCheck.read()``, the figures since the last read (the observer asks
once a second through ``GET /kibench/v1/stats``):

- ``loop_lag_max_ms``: the longest the daemon's event loop was late waking a 50 ms timer (probes,
  controllers and the API all run on it: a late loop means late probes and decisions);
- ``daemon_cpu_cores`` and ``forwarder_cpu_cores``: CPU the control plane and the data path used;
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

    def _marks(self) -> dict[str, float]:
        forwarder = self.cluster.balancers.proc
        fwd = None
        if forwarder is not None:
            with contextlib.suppress(psutil.Error):
                fwd = psutil.Process(forwarder.pid)
        host = psutil.cpu_times()
        replicas = 0.0
        for rt in list(self.cluster.kubelet.runtimes.values()):
            if rt.proc is not None and rt.proc.returncode is None:
                with contextlib.suppress(psutil.Error):
                    replicas += _cpu_s(psutil.Process(rt.proc.pid))
        return {
            "t": time.monotonic(),
            "daemon": _cpu_s(self.me),
            "forwarder": _cpu_s(fwd),
            "replicas": replicas,
            "host_idle": float(host.idle),
            "host_total": float(sum(host)),
        }

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start = loop.time()
            await asyncio.sleep(TICK_S)
            self.lag_max_s = max(self.lag_max_s, loop.time() - start - TICK_S)

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
