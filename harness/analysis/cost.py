"""Cost and efficiency of a run: what the replicas it held cost, and how much of their time was idle.

In: ``RunData`` (timeline.parquet: pods_total, pods_pending, ready_replicas, nodes_total; request rows:
replica, t_sent_s, latency_raw_ms, ok, tokens_out) and the scenario (``cost:`` prices, ``platform.pod``:
GPUs and CPU request per replica).  Out: gauges an SLO may name, for any window [start, end] (the load
window for the run, each phase's window for the phase):

* ``gpu_hours``: scheduled replicas (pods_total - pods_pending: a pod holds its GPUs from scheduling to
  deletion, starting and terminating included) x pod.gpus x the share of a physical GPU each is (``gpu_share``:
  1/replicas when time-sliced, g/7 for a MIG slice), integrated over the window, in hours;
* ``cost_usd``: gpu_hours x gpu_hour_usd + core-hours (scheduled x pod.cpu_request) x cpu_hour_usd +
  node-hours x node_hour_usd; None without a ``cost:`` section;
* ``cost_per_1k_requests``: cost_usd per 1,000 successful requests; ``cost_per_1m_tokens``: per 1,000,000
  output tokens (None when nothing streamed tokens);
* ``idle_fraction``: 1 - busy / Ready replica-seconds, where a replica is busy while at least one request
  it answered was in flight (the union of [t_sent, t_sent + latency_raw] per replica); None when the rows
  do not name replicas (an external target).

The timeline is a step function: each sample holds until the next one (the last until the window's end).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.scenario import MIG_PROFILES, Scenario

_GROUP_SPAN_S = 1e7  # replicas' intervals are laid side by side this far apart to merge them in one pass


def integrate(timeline: pd.DataFrame, values: np.ndarray, start: float, end: float) -> float | None:
    """The step-wise integral of ``values`` (one per timeline sample) over [start, end], in value-seconds."""
    if timeline.empty or end <= start:
        return None if timeline.empty else 0.0
    t = timeline["t_s"].to_numpy(dtype=float)
    nxt = np.append(t[1:], max(end, t[-1]))
    overlap = np.clip(np.minimum(nxt, end) - np.maximum(t, start), 0.0, None)
    return float(np.nansum(values * overlap))


def gpu_share(scenario: Scenario) -> float:
    """The share of a physical GPU one unit of the pod's GPU resource is: 1 for a whole GPU, 1/replicas for a
    time-sliced one, g/7 for a MIG slice ``nvidia.com/mig-<g>g.<mem>gb``."""
    pod, gpu = scenario.platform.pod, scenario.platform.nodes.gpu
    if pod.gpu_resource.startswith("nvidia.com/mig-"):
        profile = pod.gpu_resource.removeprefix("nvidia.com/mig-")
        return MIG_PROFILES.get(profile, (int(profile.split("g.")[0]), 0))[0] / 7.0
    return 1.0 / gpu.replicas if gpu.sharing == "time-slicing" else 1.0


def _column(timeline: pd.DataFrame, name: str) -> np.ndarray:
    if name not in timeline:
        return np.zeros(len(timeline))
    return pd.to_numeric(timeline[name], errors="coerce").fillna(0).to_numpy(dtype=float)


@dataclass(frozen=True)
class BusyIntervals:
    """Per replica, the merged spans in which it had a request in flight (replica code, start, end)."""

    code: np.ndarray
    start: np.ndarray
    end: np.ndarray

    @classmethod
    def from_requests(cls, req: pd.DataFrame) -> BusyIntervals | None:
        if req.empty or "replica" not in req or req["replica"].isna().all():
            return None
        known = req["replica"].notna().to_numpy()
        codes = pd.Categorical(req["replica"][known]).codes.astype(np.int64)
        start = req["t_sent_s"].to_numpy(dtype=float)[known]
        end = start + np.nan_to_num(req["latency_raw_ms"].to_numpy(dtype=float)[known]) / 1000.0
        offset = codes * _GROUP_SPAN_S  # groups never overlap, so one sorted pass merges each replica's spans
        order = np.argsort(start + offset, kind="stable")
        s, e = (start + offset)[order], (end + offset)[order]
        reach = np.maximum.accumulate(e)
        new = np.ones(len(s), dtype=bool)
        new[1:] = s[1:] > reach[:-1]
        first = np.flatnonzero(new)
        last = np.append(first[1:] - 1, len(s) - 1)
        group = codes[order][first]
        return cls(group, s[first] - group * _GROUP_SPAN_S, reach[last] - group * _GROUP_SPAN_S)

    def busy_seconds(self, start: float, end: float) -> float:
        return float(np.clip(np.minimum(self.end, end) - np.maximum(self.start, start), 0.0, None).sum())


def cost_gauges(
    timeline: pd.DataFrame,
    scenario: Scenario,
    start: float,
    end: float,
    successful: int,
    tokens: float | None,
    busy: BusyIntervals | None,
) -> dict[str, float | None]:
    """The cost and efficiency gauges of the window [start, end] (see the module docstring)."""
    out: dict[str, float | None] = dict.fromkeys(
        ("gpu_hours", "cost_usd", "cost_per_1k_requests", "cost_per_1m_tokens", "idle_fraction")
    )
    if timeline.empty:
        return out
    pod = scenario.platform.pod
    scheduled = np.clip(_column(timeline, "pods_total") - _column(timeline, "pods_pending"), 0, None)
    pod_s = integrate(timeline, scheduled, start, end) or 0.0
    node_s = integrate(timeline, _column(timeline, "nodes_total"), start, end) or 0.0
    gpus = pod.gpus * gpu_share(scenario)
    out["gpu_hours"] = _round(pod_s * gpus / 3600.0)
    if scenario.cost is not None:
        price = scenario.cost
        cost = pod_s / 3600.0 * (gpus * price.gpu_hour_usd + pod.cpu_request * price.cpu_hour_usd)
        cost += node_s / 3600.0 * price.node_hour_usd
        out["cost_usd"] = _round(cost)
        out["cost_per_1k_requests"] = _round(cost / successful * 1000.0) if successful else None
        out["cost_per_1m_tokens"] = _round(cost / tokens * 1e6) if tokens else None
    ready_s = integrate(timeline, _column(timeline, "ready_replicas"), start, end) or 0.0
    if busy is not None and ready_s > 0:
        out["idle_fraction"] = _round(min(1.0, max(0.0, 1.0 - busy.busy_seconds(start, end) / ready_s)))
    return out


def _round(value: float) -> float:
    return round(float(value), 6)
