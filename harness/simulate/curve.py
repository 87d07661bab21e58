"""A replica's latency as a function of its rate, measured by ``kibench capacity`` (``--curve probes.parquet``).

In: ``RUN_DIR/capacity/probes.parquet`` as ``harness.capacity.write_outputs`` writes it: one row per probe of
ONE replica at a constant offered rate (``rate_rps``), with what it served (``throughput_rps``) and its
latency percentiles (``latency_p50_ms``, ``latency_p95_ms``, ``latency_p99_ms``, the HTTP path of the
measured platform included).  Out: a ``LatencyCurve``: for any per-replica rate the latency quantiles,
interpolated linearly between the probed rates (the probes at one rate, confirm repeats, by their median;
each percentile made non-decreasing in the rate, as a queue's is), clamped to the lowest and highest probe
beyond them, and the replica's capacity (the most it served in any probe), above which the fluid mode
carries the excess as backlog.  ``draw`` samples latencies from the quantiles (a linear inverse CDF through
p50, p95 and p99, each end continuing its neighbouring segment's slope).  Errors are ``RunFolderError``
(exit 2) naming the file and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import RunFolderError

COLUMNS = ("rate_rps", "throughput_rps", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms")
_SHARES = np.array([0.0, 0.5, 0.95, 0.99, 1.0])


@dataclass(frozen=True)
class LatencyCurve:
    """Per-replica latency quantiles (ms) at the probed per-replica rates (rps), increasing."""

    source: str
    rates_rps: tuple[float, ...]
    p50_ms: tuple[float, ...]
    p95_ms: tuple[float, ...]
    p99_ms: tuple[float, ...]
    capacity_rps: float

    def quantiles_ms(self, rate_rps: float) -> tuple[float, float, float]:
        """(p50, p95, p99) at ``rate_rps``: linear between the probes, clamped beyond them."""
        r = self.rates_rps
        return (float(np.interp(rate_rps, r, self.p50_ms)), float(np.interp(rate_rps, r, self.p95_ms)),
                float(np.interp(rate_rps, r, self.p99_ms)))  # fmt: skip

    def _inverse_cdf(self, rate_rps: float) -> np.ndarray:
        p50, p95, p99 = self.quantiles_ms(rate_rps)
        low = max(p50 - (p95 - p50) * 0.5 / 0.45, 0.0)
        high = p99 + (p99 - p95) * 0.01 / 0.04
        return np.array([low, p50, p95, p99, high])

    def mean_ms(self, rate_rps: float) -> float:
        """The mean of the drawn distribution (trapezoids of the linear inverse CDF)."""
        values = self._inverse_cdf(rate_rps)
        return float(np.sum(np.diff(_SHARES) * (values[1:] + values[:-1]) / 2.0))

    def draw(self, rate_rps: float, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` latencies (ms) at ``rate_rps``."""
        return np.interp(rng.random(n), _SHARES, self._inverse_cdf(rate_rps))

    def describe(self) -> dict[str, object]:
        return {"source": self.source, "probed_rates_rps": [round(r, 3) for r in self.rates_rps],
                "capacity_rps": round(self.capacity_rps, 3)}  # fmt: skip


def load_curve(path: str | Path) -> LatencyCurve:
    """The curve of a capacity search's ``probes.parquet`` (module docstring)."""
    file = Path(path)
    if file.is_dir():
        file = file / "capacity" / "probes.parquet" if (file / "capacity").is_dir() else file / "probes.parquet"
    fix = "give RUN_DIR/capacity/probes.parquet of a `kibench capacity` search"
    try:
        frame = pd.read_parquet(file)
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{file}: cannot read a latency curve from it ({exc}); {fix}") from exc
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        raise RunFolderError(f"{file}: no column {', '.join(missing)}: not a capacity search's probes; {fix}")
    frame = frame.dropna(subset=["rate_rps", "latency_p50_ms", "latency_p95_ms"])
    frame = frame[frame["rate_rps"] > 0]
    if frame.empty:
        raise RunFolderError(f"{file}: no probe with a rate and latency figures; {fix}")
    frame = frame.assign(latency_p99_ms=frame["latency_p99_ms"].fillna(frame["latency_p95_ms"]))
    by_rate = frame.groupby("rate_rps")[list(COLUMNS[1:])].median().sort_index()
    p50 = np.maximum.accumulate(by_rate["latency_p50_ms"].to_numpy(dtype=float))
    p95 = np.maximum.accumulate(np.maximum(by_rate["latency_p95_ms"].to_numpy(dtype=float), p50))
    p99 = np.maximum.accumulate(np.maximum(by_rate["latency_p99_ms"].to_numpy(dtype=float), p95))
    served = frame["throughput_rps"].dropna()
    capacity = float(served.max()) if len(served) else float(by_rate.index.max())
    return LatencyCurve(str(file), tuple(float(r) for r in by_rate.index), tuple(p50.tolist()), tuple(p95.tolist()),
                        tuple(p99.tolist()), max(capacity, 1e-9))  # fmt: skip
