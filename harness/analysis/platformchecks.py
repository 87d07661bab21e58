"""Self-checks of the platform: was the embedded cluster (or the host under it) the bottleneck?

In: ``RunData`` (the timeline's ``platform_*`` columns, sampled once a second from the embedded cluster's
self-check, and the load window from the events) and the ``Metrics`` so far.  Out: gauges usable in SLOs
and a warning in plain words when the results are host-bound (naming the probe failures that timed out
while the host was saturated: the ``probe_failed`` events with ``host_saturated``):

- ``host_cpu_idle_min``: the lowest idle CPU of the host (% of all cores) in a sample during the load;
- ``platform_loop_lag_p99_ms``: p99 over the samples of how late the daemon's event loop woke (its probes,
  controllers and API run on it);
- ``platform_cpu_max_cores``: the most CPU the control plane (daemon) and the data path (forwarder) used;
- ``platform_saturated``: 1 when, in at least ``SATURATED_SHARE`` of the samples, the host had under
  ``HOST_IDLE_MIN_PCT`` idle CPU, the loop lag passed ``LOOP_LAG_MAX_MS``, or the daemon or the forwarder
  used ``PROCESS_BUSY_CORES`` of a core; else 0.  Absent (None) on platforms without a self-check.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.metrics import Metrics
from harness.analysis.runfolder import RunData

SATURATED_SHARE = 0.1
HOST_IDLE_MIN_PCT = 5.0
LOOP_LAG_MAX_MS = 100.0
PROCESS_BUSY_CORES = 0.9


def _window(data: RunData, timeline: pd.DataFrame) -> pd.DataFrame:
    starts = [float(e["t_s"]) for e in data.events_of("load_start")]
    ends = [float(e["t_s"]) for e in data.events_of("load_end")]
    if starts:
        timeline = timeline[timeline["t_s"] >= min(starts)]
    if ends:
        timeline = timeline[timeline["t_s"] <= max(ends) + 1.0]
    return timeline


def add_platform_checks(data: RunData, metrics: Metrics) -> Metrics:
    gauges = metrics.gauges
    names = ("host_cpu_idle_min", "platform_loop_lag_p99_ms", "platform_cpu_max_cores", "platform_saturated")
    timeline = data.timeline
    if timeline is None or "platform_host_cpu_idle_pct" not in timeline.columns:
        gauges.update(dict.fromkeys(names))
        return metrics
    rows = _window(data, timeline)
    if rows.empty:
        gauges.update(dict.fromkeys(names))
        return metrics
    idle = pd.to_numeric(rows["platform_host_cpu_idle_pct"], errors="coerce")
    lag = pd.to_numeric(rows.get("platform_loop_lag_max_ms", pd.Series(dtype=float)), errors="coerce")
    daemon = pd.to_numeric(rows.get("platform_daemon_cpu_cores", pd.Series(dtype=float)), errors="coerce")
    forwarder = pd.to_numeric(rows.get("platform_forwarder_cpu_cores", pd.Series(dtype=float)), errors="coerce")
    busy = (idle < HOST_IDLE_MIN_PCT) | (lag > LOOP_LAG_MAX_MS)
    busy |= (daemon >= PROCESS_BUSY_CORES) | (forwarder >= PROCESS_BUSY_CORES)
    share = float(busy.mean())
    lag_values = lag.dropna().to_numpy(dtype=float)
    gauges["host_cpu_idle_min"] = round(float(idle.min()), 3)
    gauges["platform_loop_lag_p99_ms"] = round(float(np.percentile(lag_values, 99)), 3) if len(lag_values) else None
    gauges["platform_cpu_max_cores"] = round(float(max(daemon.max(), forwarder.max())), 4)
    gauges["platform_saturated"] = 1.0 if share >= SATURATED_SHARE else 0.0
    if share >= SATURATED_SHARE:
        causes = []
        if (idle < HOST_IDLE_MIN_PCT).any():
            causes.append(f"the host had under {HOST_IDLE_MIN_PCT:g}% idle CPU (lowest {idle.min():.0f}%)")
        if (lag > LOOP_LAG_MAX_MS).any():
            causes.append(f"the platform's event loop was up to {lag.max():.0f} ms late (probes and controllers wait)")
        if ((daemon >= PROCESS_BUSY_CORES) | (forwarder >= PROCESS_BUSY_CORES)).any():
            causes.append("the platform's control plane or data path used a whole core")
        starved = [e for e in data.events_of("probe_failed") if e.get("host_saturated")]
        if starved:
            pods = sorted({str(e.get("pod")) for e in starved})
            causes.append(
                f"{len(starved)} probe failure(s) timed out while the host was saturated ({', '.join(pods[:5])}): "
                "replicas turned unready or restarted because of the host, not the service"
            )
        data.warnings.append(
            f"results are host-bound: in {share:.0%} of the samples {'; '.join(causes)}; latencies include waiting "
            "for a CPU, so they measure this machine as much as the service (lower the rate or the replica count, "
            "or run on a bigger machine or a real cluster)"
        )
    return metrics
