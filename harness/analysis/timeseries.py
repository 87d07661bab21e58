"""Per-second series of a run, for plots and reports.

In: ``RunData`` (request rows sorted by intended send time; dropped_arrivals events).  Out:
``per_second.parquet`` in the run folder: one row per second of intended send time with requests,
errors, dropped arrivals and latency percentiles (p50/p95/p99 of corrected latency).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.runfolder import RunData
from harness.runio import write_with

PER_SECOND_FILE = "per_second.parquet"
COLUMNS = ["t_s", "requests", "errors", "dropped", "p50_ms", "p95_ms", "p99_ms"]


def per_second(data: RunData) -> pd.DataFrame:
    """Aggregate request rows into 1-second buckets (rows are sorted by t_intended_s)."""
    req = data.requests
    if req.empty:
        return pd.DataFrame(columns=COLUMNS)
    t = req["t_intended_s"].to_numpy(dtype=float)
    latency = req["latency_ms"].to_numpy(dtype=float)
    failed = ~req["ok"].to_numpy(dtype=bool)
    seconds = np.arange(int(np.floor(t[0])), int(np.floor(t[-1])) + 1)
    bounds = np.searchsorted(t, np.append(seconds, seconds[-1] + 1), side="left")
    counts = np.diff(bounds)
    errors = np.add.reduceat(failed.astype(np.int64), bounds[:-1].clip(max=len(t) - 1)) * (counts > 0)
    pcts = np.full((len(seconds), 3), np.nan)
    for i in np.flatnonzero(counts):
        values = latency[bounds[i] : bounds[i + 1]]
        values = values[~np.isnan(values)]
        if values.size:
            pcts[i] = np.percentile(values, (50, 95, 99))
    out = pd.DataFrame({"t_s": seconds, "requests": counts, "errors": errors, "dropped": _dropped(data, seconds),
                        "p50_ms": pcts[:, 0], "p95_ms": pcts[:, 1], "p99_ms": pcts[:, 2]})  # fmt: skip
    return out[counts > 0].reset_index(drop=True)


def _dropped(data: RunData, seconds: np.ndarray) -> np.ndarray:
    """Arrivals dropped in each second, from the cumulative counts of the dropped_arrivals events."""
    out = np.zeros(len(seconds))
    events = sorted(data.events_of("dropped_arrivals"), key=lambda e: float(e["t_s"]))
    previous = 0.0
    for event in events:
        total = float(event.get("dropped", 0))
        i = int(np.searchsorted(seconds, np.floor(float(event["t_s"])), side="left"))
        if total > previous and 0 <= i < len(out):
            out[i] += total - previous
        previous = max(previous, total)
    return out


def write_per_second(data: RunData) -> pd.DataFrame:
    frame = per_second(data)
    write_with(data.files.root / PER_SECOND_FILE, lambda tmp: frame.to_parquet(tmp, index=False))
    return frame
