"""Derived metrics of a run (names as in the README's metric table and ``harness.thresholds``).

In: ``RunData``.  Out: ``Metrics``: scalar gauges, the per-request series that trend metrics
aggregate, and the load window.  Latency percentiles are computed here from every recorded row
(numpy linear interpolation), never taken from Locust's rounded statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.runfolder import RunData

PERCENTILES = (50, 90, 95, 99)


@dataclass
class Metrics:
    """Gauges (one number each) plus series for trend metrics."""

    gauges: dict[str, float | None]
    series: dict[str, pd.Series]
    window_s: tuple[float, float]
    detail: dict[str, Any] = field(default_factory=dict)


def load_window(data: RunData) -> tuple[float, float]:
    """[start, end] of the load in run seconds, from events (or the request rows)."""
    starts = [e["t_s"] for e in data.events_of("load_start")]
    ends = [e["t_s"] for e in data.events_of("load_end")]
    req = data.requests
    start = min(starts) if starts else (float(req["t_intended_s"].min()) if len(req) else 0.0)
    if ends:
        end = max(ends)
    elif len(req):
        end = float((req["t_sent_s"] + req["latency_raw_ms"] / 1000).max())
    else:
        end = start
    return start, max(end, start)


def trend_summary(values: pd.Series) -> dict[str, float | None]:
    """avg/min/p50/p90/p95/p99/max of a series (None when empty)."""
    arr = values.dropna().to_numpy(dtype=float)
    if arr.size == 0:
        return {k: None for k in ("avg", "min", *(f"p{p}" for p in PERCENTILES), "max")}
    out: dict[str, float | None] = {"avg": float(arr.mean()), "min": float(arr.min())}
    for p, v in zip(PERCENTILES, np.percentile(arr, PERCENTILES), strict=True):
        out[f"p{p}"] = float(v)
    out["max"] = float(arr.max())
    return {k: None if v is None else round(v, 3) for k, v in out.items()}


def compute(data: RunData, latency_limit_ms: float | None) -> Metrics:
    """All metrics of the run; ``latency_limit_ms`` defines goodput (None: every ok request counts)."""
    req = data.requests
    start, end = load_window(data)
    planned = [float(e["duration_s"]) for e in data.events_of("load_start") if e.get("duration_s")]
    # Rates are per second of the planned load (the drain of in-flight requests is not load time).
    duration = max(min(planned[0], end - start) if planned else end - start, 1e-9)
    n = len(req)
    ok = req["ok"].astype(bool) if n else pd.Series(dtype=bool)
    n_ok = int(ok.sum())
    good = ok if latency_limit_ms is None or not n else ok & (req["latency_ms"] <= latency_limit_ms)
    requested = sum(float(s.get("requested_arrivals", 0)) for s in data.load_stats) or None
    dropped = sum(int(s.get("dropped", 0)) for s in data.load_stats)
    sent = sum(int(s.get("scheduled", 0)) for s in data.load_stats) or n
    gauges: dict[str, float | None] = {
        "requests": n,
        "error_rate": (n - n_ok) / n if n else None,
        "availability": n_ok / n if n else None,
        "throughput_rps": n / duration,
        "goodput_rps": int(good.sum()) / duration if n else 0.0,
        "requested_rate_rps": None if requested is None else requested / duration,
        "achieved_rate_rps": sent / duration,
        "achieved_rate_ratio": None if not requested else sent / requested,
        "dropped_arrivals": dropped,
        **_replica_gauges(data.timeline),
    }
    series = {
        "latency_ms": req["latency_ms"],
        "latency_raw_ms": req["latency_raw_ms"],
        "send_lag_ms": (req["t_sent_s"] - req["t_intended_s"]) * 1000.0,
        "errors": ~ok,
    }
    return Metrics(
        {k: (None if v is None else round(float(v), 6)) for k, v in gauges.items()},
        series,
        (start, start + duration),
        {"load_duration_s": round(duration, 3)},
    )


def _replica_gauges(timeline: pd.DataFrame) -> dict[str, float | None]:
    if timeline.empty:
        return {"peak_ready_replicas": None, "replica_seconds": None}
    t = timeline["t_s"].to_numpy(dtype=float)
    ready = timeline["ready_replicas"].to_numpy(dtype=float)
    seconds = float(np.sum(ready[:-1] * np.diff(t))) if len(t) > 1 else 0.0
    return {"peak_ready_replicas": float(ready.max()), "replica_seconds": seconds}
