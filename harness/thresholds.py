"""SLO thresholds in k6 syntax: parse, check against the metric catalogue, evaluate.

In: expressions such as ``p(95) < 800``, ``avg < 200``, ``max <= 2000``, ``rate < 0.01``, ``value < 60``,
keyed by a metric name from ``METRICS``.  Out: ``Threshold`` (parsed) and ``Threshold.holds(value)``.

Metric kinds follow k6: a *trend* (one value per request; aggregations avg, min, med, max, p(N)),
a *rate* (share of requests for which something is true; aggregation ``rate``), a *counter*
(aggregations ``count`` and ``rate`` per second) and a *gauge* (one number for the run; ``value``).
This module is a shared leaf: the scenario validates with it, analysis evaluates with it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from harness.errors import ThresholdError

MetricKind = Literal["trend", "rate", "counter", "gauge"]

#: Every metric an SLO may name, with its kind and a one-line meaning (README's metric table).
METRICS: dict[str, tuple[MetricKind, str]] = {
    "latency_ms": ("trend", "request latency from the intended send time (corrected for coordinated omission)"),
    "latency_raw_ms": ("trend", "request latency from the actual send time"),
    "send_lag_ms": ("trend", "actual send time minus intended send time"),
    "errors": ("rate", "share of requests that failed (non-2xx or transport error)"),
    "requests": ("counter", "requests completed (count) and per second (rate)"),
    "error_rate": ("gauge", "share of requests that failed"),
    "availability": ("gauge", "share of requests that succeeded"),
    "throughput_rps": ("gauge", "completed requests per second"),
    "goodput_rps": ("gauge", "successful requests per second within the latency SLO"),
    "achieved_rate_ratio": ("gauge", "achieved / requested arrival rate"),
    "dropped_arrivals": ("gauge", "arrivals the concurrency cap could not start"),
    "ttft_ms": ("trend", "time to first token of a streamed answer, from the intended send time"),
    "itl_ms": ("trend", "mean gap between consecutive tokens of each streamed answer"),
    "itl_max_ms": ("trend", "longest gap between consecutive tokens of each streamed answer"),
    "output_tokens_per_s": ("gauge", "output tokens received per second of load"),
    "loadgen_cpu_saturation": ("gauge", "share of the load generator's CPU samples above 90% (worst worker)"),
    "loadgen_saturated": ("gauge", "1 when the load generator was CPU-saturated (its numbers are suspect), else 0"),
    "rate_deviation_pct": ("gauge", "|achieved - requested| arrival rate, % of requested (open model)"),
    "send_lag_p99_ms": ("gauge", "99th percentile of actual minus intended send time"),
    "peak_ready_replicas": ("gauge", "highest number of Ready replicas seen"),
    "replica_seconds": ("gauge", "integral of Ready replicas over the run"),
    "peak_replicas": ("gauge", "highest desired replica count (the autoscaler's peak)"),
    "scale_up_reaction_s": ("gauge", "load step -> first scale-up decision"),
    "scale_up_ready_s": ("gauge", "load step -> Ready replicas reach the peak desired before the load drops"),
    "slo_recovery_s": ("gauge", "load step -> latency and error SLOs hold again for a settle window"),
    "scale_down_s": ("gauge", "load drop -> desired replicas back to the minimum"),
    "fault_failed_requests": ("gauge", "requests that failed inside the faults' windows, all faults together"),
    "time_to_capacity_s": ("gauge", "fault -> Ready replicas back to the level before it (worst fault)"),
    "time_to_slo_s": ("gauge", "fault -> SLOs hold again for a settle window (worst fault)"),
    "detection_s": ("gauge", "hung replica -> first liveness failure (worst fault)"),
}

AGGREGATIONS: dict[MetricKind, tuple[str, ...]] = {
    "trend": ("avg", "min", "med", "max", "p(N)"),
    "rate": ("rate",),
    "counter": ("count", "rate"),
    "gauge": ("value",),
}

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "===": operator.eq,
    "!=": operator.ne,
}

_EXPR = re.compile(
    r"^\s*(?P<agg>avg|min|med|max|count|rate|value|p\(\s*(?P<pct>\d+(?:\.\d+)?)\s*\))"
    r"\s*(?P<op><=|>=|===|==|!=|<|>)\s*(?P<num>[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Threshold:
    """One parsed threshold: ``aggregation op limit`` on ``metric``."""

    metric: str
    expression: str
    aggregation: str  # avg|min|med|max|count|rate|value|p
    percentile: float | None  # set when aggregation == "p"
    op: str
    limit: float

    def holds(self, value: float | None) -> bool:
        """True when the measured value satisfies the threshold; a missing value never does."""
        if value is None or value != value:  # None or NaN
            return False
        return _OPS[self.op](value, self.limit)

    @property
    def label(self) -> str:
        """Short name of the aggregate, e.g. ``p(95)``."""
        return f"p({self.percentile:g})" if self.aggregation == "p" else self.aggregation


def parse(metric: str, expression: str) -> Threshold:
    """Parse one k6 threshold expression for ``metric``; raise ThresholdError with the fix."""
    if metric not in METRICS:
        known = ", ".join(sorted(METRICS))
        raise ThresholdError(f"unknown metric {metric!r}; known metrics: {known}")
    match = _EXPR.match(expression)
    if not match:
        raise ThresholdError(
            f"cannot parse {expression!r}; write '<aggregation> <op> <number>', e.g. 'p(95) < 800', "
            "'avg < 200', 'rate < 0.01', 'value < 60'"
        )
    agg = match["agg"]
    pct: float | None = None
    if agg.startswith("p("):
        pct = float(match["pct"])
        if not 0 < pct <= 100:
            raise ThresholdError(f"percentile in {expression!r} must be in (0, 100] (got {pct:g})")
        agg = "p"
    kind = METRICS[metric][0]
    allowed = AGGREGATIONS[kind]
    if (agg == "p" and "p(N)" not in allowed) or (agg != "p" and agg not in allowed):
        raise ThresholdError(f"{expression!r}: {metric} is a {kind} metric; use one of {', '.join(allowed)}")
    return Threshold(metric, expression.strip(), agg, pct, match["op"], float(match["num"]))
