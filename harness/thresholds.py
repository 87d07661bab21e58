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
    "gpu_hours": ("gauge", "GPU-hours held by scheduled replicas during the load (pod.gpus each)"),
    "cost_usd": ("gauge", "cost of the load window at the scenario's cost: prices (GPU, CPU, node hours)"),
    "cost_per_1k_requests": ("gauge", "cost_usd per 1,000 successful requests"),
    "cost_per_1m_tokens": ("gauge", "cost_usd per 1,000,000 output tokens (streamed completions)"),
    "idle_fraction": ("gauge", "share of Ready replica-seconds with no request in flight on that replica"),
    "cpu_request_utilisation": ("gauge", "mean CPU used / CPU requested per pod (usage.parquet)"),
    "memory_request_utilisation": ("gauge", "mean memory used / memory requested per pod"),
    "cpu_used_cores_p90": ("gauge", "90th percentile of a pod's CPU use over the load, in cores"),
    "memory_used_mib_max": ("gauge", "highest resident memory of a pod during the load, MiB"),
    "cpu_recommended_cores": ("gauge", "the VPA recommender's CPU target for the service's container"),
    "memory_recommended_mib": ("gauge", "the VPA recommender's memory target, MiB"),
    "rightsizing_savings_usd_per_replica_hour": ("gauge", "(requested - recommended) x cost: prices, per replica-hour"),
    "vpa_cpu_target_cores": ("gauge", "the VerticalPodAutoscaler object's CPU target (the cluster's VPA), cores"),
    "vpa_memory_target_mib": ("gauge", "the VerticalPodAutoscaler object's memory target, MiB"),
    "resilience_score": ("gauge", "0-100: weighted share of the other SLOs that hold (critical 3, warning 1)"),
}

#: Metrics that also exist per phase (``latency_ms{phase:spike}``); the others describe the whole run.
PHASE_METRICS = frozenset(
    (
        "latency_ms", "latency_raw_ms", "send_lag_ms", "errors", "requests", "error_rate", "availability",
        "throughput_rps", "goodput_rps", "dropped_arrivals", "ttft_ms", "itl_ms", "itl_max_ms",
        "output_tokens_per_s", "peak_ready_replicas", "replica_seconds", "gpu_hours", "cost_usd",
        "cost_per_1k_requests", "cost_per_1m_tokens", "idle_fraction",
    )
)  # fmt: skip

#: Severity -> weight in the resilience score (krkn's critical 3 / warning 1).
SEVERITY_WEIGHTS = {"critical": 3.0, "warning": 1.0}

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

_KEY = re.compile(
    r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\{\s*(?P<tag>[^:{}]*?)\s*:\s*(?P<value>[^{}]*?)\s*\})?\s*$"
)
_PHASE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")

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
    phase: str | None = None  # ``latency_ms{phase:spike}``: the value is taken on that phase's requests
    severity: str = "critical"
    weight: float = SEVERITY_WEIGHTS["critical"]

    @property
    def key(self) -> str:
        """The metric as written in the scenario: ``latency_ms`` or ``latency_ms{phase:spike}``."""
        return self.metric if self.phase is None else f"{self.metric}{{phase:{self.phase}}}"

    def holds(self, value: float | None) -> bool:
        """True when the measured value satisfies the threshold; a missing value never does."""
        if value is None or value != value:  # None or NaN
            return False
        return _OPS[self.op](value, self.limit)

    @property
    def label(self) -> str:
        """Short name of the aggregate, e.g. ``p(95)``."""
        return f"p({self.percentile:g})" if self.aggregation == "p" else self.aggregation


def split_key(key: str) -> tuple[str, str | None]:
    """``latency_ms{phase:spike}`` -> (``latency_ms``, ``spike``); k6's tag syntax, only the ``phase`` tag."""
    match = _KEY.match(key)
    if not match:
        raise ThresholdError(f"cannot parse the metric {key!r}; write e.g. 'latency_ms' or 'latency_ms{{phase:spike}}'")
    if match["tag"] is None:
        return match["name"], None
    if match["tag"] != "phase":
        raise ThresholdError(f"{key!r}: only the phase tag is supported, e.g. '{match['name']}{{phase:spike}}'")
    if not _PHASE.match(match["value"]):
        raise ThresholdError(f"{key!r}: the phase name must be letters, digits, . _ : - (got {match['value']!r})")
    return match["name"], match["value"]


def parse(key: str, expression: str, severity: str = "critical", weight: float | None = None) -> Threshold:
    """Parse one k6 threshold expression for ``key`` (a metric, optionally ``{phase:NAME}``);
    raise ThresholdError with the fix.  ``weight`` defaults to the severity's (critical 3, warning 1)."""
    metric, phase = split_key(key)
    if metric not in METRICS:
        known = ", ".join(sorted(METRICS))
        raise ThresholdError(f"unknown metric {metric!r}; known metrics: {known}")
    if phase is not None and metric not in PHASE_METRICS:
        raise ThresholdError(f"{metric} describes the whole run and has no per-phase value; drop {{phase:{phase}}}")
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
    if severity not in SEVERITY_WEIGHTS:
        raise ThresholdError(f"severity {severity!r}: use one of {', '.join(SEVERITY_WEIGHTS)}")
    w = SEVERITY_WEIGHTS[severity] if weight is None else float(weight)
    return Threshold(metric, expression.strip(), agg, pct, match["op"], float(match["num"]), phase, severity, w)
