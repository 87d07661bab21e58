"""Per-second series of a run, for plots and reports.

In: ``RunData``.  Out: ``per_second.parquet`` in the run folder: one row per second of intended send
time with requests, errors, throughput and latency percentiles (p50/p95/p99 of corrected latency).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.analysis.runfolder import RunData

PER_SECOND_FILE = "per_second.parquet"


def per_second(data: RunData) -> pd.DataFrame:
    """Aggregate request rows into 1-second buckets."""
    req = data.requests
    cols = ["t_s", "requests", "errors", "p50_ms", "p95_ms", "p99_ms"]
    if req.empty:
        return pd.DataFrame(columns=cols)
    bucket = np.floor(req["t_intended_s"].to_numpy(dtype=float)).astype(int)
    grouped = req.assign(t_s=bucket, err=~req["ok"].astype(bool)).groupby("t_s")
    out = pd.DataFrame(
        {
            "requests": grouped.size(),
            "errors": grouped["err"].sum(),
            "p50_ms": grouped["latency_ms"].quantile(0.50),
            "p95_ms": grouped["latency_ms"].quantile(0.95),
            "p99_ms": grouped["latency_ms"].quantile(0.99),
        }
    ).reset_index()
    return out[cols]


def write_per_second(data: RunData) -> pd.DataFrame:
    frame = per_second(data)
    frame.to_parquet(data.files.root / PER_SECOND_FILE, index=False)
    return frame
