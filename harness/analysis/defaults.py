"""Default SLOs: the checks every run gets unless its scenario overrides them or turns them off.

In: the scenario (its ``slos``, ``slo_defaults`` and load model) and the run's ``Metrics``.  Out: the
default ``Threshold`` list that applies to this run; ``SELF_CHECK_METRICS``, the metrics that judge
the measurement rather than the service.

| metric | default threshold | applies | judges |
|---|---|---|---|
| ``errors`` | ``rate < 0.01`` | always | the service |
| ``loadgen_saturated`` | ``value < 1`` | always | the measurement (self-check) |
| ``rate_deviation_pct`` | ``value <= 2`` (wider, see below) | open model, run complete | the measurement (self-check) |
| ``platform_saturated`` | ``value < 1`` | when the run's metrics have that gauge | the measurement (self-check) |

**Replacement.**  A scenario SLO on a metric of the same family replaces the default: ``errors`` is
replaced by any SLO on ``errors``, ``error_rate`` or ``availability`` (the same quantity, named three
ways); ``loadgen_saturated`` by ``loadgen_saturated`` or ``loadgen_cpu_saturation``;
``rate_deviation_pct`` by ``rate_deviation_pct`` or ``achieved_rate_ratio``; ``platform_saturated``
by itself.  ``slo_defaults: false`` (``kibench run --no-default-slos``) turns every default off.

**Rate tolerance.**  2 % of the requested arrivals, widened where a correct generator cannot hit 2 %:
with uniform arrivals a run of N requested arrivals may be one arrival short (100/N %); with Poisson
or gamma arrivals the count itself is random, so the limit is three standard deviations of it
(300 / sqrt(N × burstiness) %), as the rate warning in ``loadchecks`` does.

An interrupted or failed run (run.json ``complete: false``) gets no rate check: it sent less than the
whole schedule by construction, its exit code (130, 3) already says so, and a warning names the
shortfall (caveats.py).

**Platform gauge.**  ``platform_saturated`` is written by the platform's own self-check (when that
platform measures it).  The default applies only when the gauge is present and known (not None).
"""

from __future__ import annotations

import math
from typing import Any

from harness.analysis.metrics import Metrics
from harness.scenario import Scenario
from harness.thresholds import Threshold

ERROR_RATE_MAX = 0.01
RATE_DEVIATION_MAX_PCT = 2.0

#: Metrics that say whether the measurement can be trusted (the generator or platform was not the
#: bottleneck); a failed SLO on one of them exits 4, not 1 (``harness.analysis.verdict``).
SELF_CHECK_METRICS = frozenset(
    {
        "loadgen_saturated",
        "loadgen_cpu_saturation",
        "rate_deviation_pct",
        "achieved_rate_ratio",
        "dropped_arrivals",
        "send_lag_ms",
        "send_lag_p99_ms",
        "platform_saturated",
        "host_cpu_idle_min",
        "platform_loop_lag_p99_ms",
    }
)

#: default metric -> the scenario metrics whose SLOs replace it
REPLACED_BY: dict[str, frozenset[str]] = {
    "errors": frozenset({"errors", "error_rate", "availability"}),
    "loadgen_saturated": frozenset({"loadgen_saturated", "loadgen_cpu_saturation"}),
    "rate_deviation_pct": frozenset({"rate_deviation_pct", "achieved_rate_ratio"}),
    "platform_saturated": frozenset({"platform_saturated"}),
}


def _threshold(metric: str, aggregation: str, op: str, limit: float) -> Threshold:
    return Threshold(metric, f"{aggregation} {op} {limit:g}", aggregation, None, op, limit)


def rate_limit_pct(scenario: Scenario, requested_arrivals: float | None) -> float:
    """The largest |achieved − requested| a correct generator can show, in % (see the module docstring)."""
    n = requested_arrivals or 0.0
    if n <= 0:
        return RATE_DEVIATION_MAX_PCT
    load = scenario.load
    if load.arrivals in ("poisson", "gamma"):
        shape = load.burstiness if load.arrivals == "gamma" else 1.0
        slack = 300.0 / math.sqrt(n * shape)
    else:
        slack = 100.0 / n
    return round(max(RATE_DEVIATION_MAX_PCT, slack), 2)


def default_thresholds(
    scenario: Scenario, metrics: Metrics, load_stats: list[dict[str, Any]], complete: bool = True
) -> list[Threshold]:
    """The default SLOs that apply to this run, minus those the scenario replaces (none when turned off).

    ``load_stats`` are the load processes' ``load-<worker>.json`` (their requested arrivals set the rate
    tolerance); ``complete`` is run.json's (the run was not interrupted)."""
    if not scenario.slo_defaults:
        return []
    candidates = [
        _threshold("errors", "rate", "<", ERROR_RATE_MAX),
        _threshold("loadgen_saturated", "value", "<", 1),
    ]
    if scenario.load.model == "open" and complete:
        arrivals = sum(float(s.get("requested_arrivals") or 0.0) for s in load_stats)
        candidates.append(_threshold("rate_deviation_pct", "value", "<=", rate_limit_pct(scenario, arrivals)))
    if metrics.gauges.get("platform_saturated") is not None:
        candidates.append(_threshold("platform_saturated", "value", "<", 1))
    own = set(scenario.slos)
    return [t for t in candidates if not own & REPLACED_BY[t.metric]]
