"""Evaluate SLO thresholds (k6 syntax, parsed by ``harness.thresholds``) against a run's metrics.

In: ``Threshold`` list and ``Metrics``.  Out: one ``SloResult`` per threshold (value, pass; whether it
is a default SLO and whether it is a self-check of the measurement) and ``latency_limit_ms``, the latency
bound that defines goodput.  A gauge outside the catalogue (a platform's own, e.g. ``platform_saturated``)
is read from the gauges like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.defaults import SELF_CHECK_METRICS
from harness.analysis.metrics import Metrics
from harness.thresholds import METRICS, Threshold


@dataclass(frozen=True)
class SloResult:
    metric: str
    expression: str
    value: float | None
    passed: bool
    aggregation: str
    limit: float
    default: bool = False  # a default SLO (harness.analysis.defaults), not the scenario's own
    self_check: bool = False  # judges the measurement (generator, platform), not the service
    phase: str | None = None
    severity: str = "critical"
    weight: float = 3.0

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["pass"] = out.pop("passed")
        return out


def value_of(threshold: Threshold, metrics: Metrics) -> float | None:
    """The aggregate a threshold compares (None when there is no data)."""
    kind = METRICS.get(threshold.metric, ("gauge", ""))[0]
    if kind == "gauge":
        return metrics.gauges.get(threshold.metric)
    if kind == "counter":
        count = metrics.gauges.get(threshold.metric)
        if threshold.aggregation == "count" or count is None:
            return count
        start, end = metrics.window_s
        return count / max(end - start, 1e-9)
    return aggregate(threshold, metrics.series[threshold.metric].dropna().to_numpy(dtype=float))


def value_on_rows(threshold: Threshold, rows: pd.DataFrame | Mapping[str, np.ndarray]) -> float | None:
    """A latency/error threshold's aggregate over a slice of request rows (a fault or recovery window);
    ``rows`` is a frame or a mapping of column name -> array (cheap slices in a loop over windows)."""
    ok = np.asarray(rows["ok"], dtype=bool)
    if threshold.metric in ("errors", "error_rate"):
        return float((~ok).mean()) if ok.size else None
    if threshold.metric == "availability":
        return float(ok.mean()) if ok.size else None
    values = np.asarray(rows[threshold.metric], dtype=float)
    return aggregate(threshold, values[~np.isnan(values)])


def aggregate(threshold: Threshold, values: np.ndarray) -> float | None:
    """avg/min/med/max/p(N)/rate of per-request values (None when there are none)."""
    if values.size == 0:
        return None
    agg = threshold.aggregation
    if agg == "rate":
        return float(values.mean())
    if agg == "p":
        return float(np.percentile(values, threshold.percentile))
    funcs = {"avg": np.mean, "min": np.min, "max": np.max, "med": np.median}
    return float(funcs[agg](values)) if agg in funcs else None


def evaluate(
    thresholds: list[Threshold], metrics: Metrics, phases: dict[str, Metrics] | None = None, default: bool = False
) -> list[SloResult]:
    """Every threshold with its measured value and verdict; ``metric{phase:X}`` on ``phases[X]``;
    ``default``: these are default SLOs."""
    out = []
    for th in thresholds:
        on = metrics if th.phase is None else (phases or {}).get(th.phase)
        value = None if on is None else value_of(th, on)
        value = None if value is None else round(value, 6)
        self_check = th.metric in SELF_CHECK_METRICS
        extra = (th.phase, th.severity, th.weight)
        out.append(
            SloResult(th.key, th.expression, value, th.holds(value), th.label, th.limit, default, self_check, *extra)
        )
    return out


def latency_limit_ms(thresholds: list[Threshold]) -> float | None:
    """The tightest upper bound on ``latency_ms`` among the SLOs (defines goodput), if any."""
    limits = [t.limit for t in thresholds if t.metric == "latency_ms" and t.op in ("<", "<=")]
    return min(limits) if limits else None
