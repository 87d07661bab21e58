"""Self-checks of the load generator, and the streaming metrics it records.

In: ``RunData`` (the request rows and every ``load-<worker>.json``) and the ``Metrics`` computed so
far.  Out: the same ``Metrics`` with gauges, series and detail added, and warnings appended to
``RunData.warnings`` (summary.json's ``warnings``), so that SLOs can name them:

- ``loadgen_cpu_saturation``: share of CPU samples (one a second per load process) at or above 90 %
  of a core, for the worst worker; ``loadgen_saturated`` is 1 when that share reaches
  ``SATURATED_SHARE`` (a saturated generator sends late and its latencies include its own queueing).
- ``rate_deviation_pct``: |achieved − requested| / requested × 100 (open model; None when closed); a
  warning above 5 % (for Poisson and gamma arrivals: above three standard deviations of the count, if more).
- ``send_lag_p99_ms``: p99 of actual − intended send time (how late the generator was).
- streaming: ``ttft_ms``, ``itl_ms`` (per-request mean gap), ``itl_max_ms`` trends and the
  ``output_tokens_per_s`` gauge, present when the run recorded streamed answers.

Every number comes from the recorded rows and counters, never from Locust's rounded statistics.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.metrics import Metrics, trend_summary
from harness.analysis.runfolder import RunData

SATURATED_SHARE = 0.1
RATE_WARN_PCT = 5.0


def _column(req: pd.DataFrame, name: str) -> pd.Series:
    """A float column of the request rows (empty when a part predates the column)."""
    if name not in req.columns:
        return pd.Series(dtype=float)
    return pd.to_numeric(req[name], errors="coerce").astype(float)


def cpu_saturation(load_stats: list[dict[str, Any]]) -> tuple[float | None, str | None]:
    """The worst worker's share of saturated CPU samples, and its name (None without samples)."""
    worst: tuple[float | None, str | None] = (None, None)
    for stats in load_stats:
        cpu = stats.get("cpu") or {}
        samples = int(cpu.get("samples") or 0)
        if samples <= 0:
            continue
        share = int(cpu.get("saturated_samples") or 0) / samples
        if worst[0] is None or share > worst[0]:
            worst = (share, str(stats.get("worker")))
    return worst


def rate_deviation_pct(metrics: Metrics, load_stats: list[dict[str, Any]]) -> float | None:
    """|achieved / requested − 1| × 100 from the load processes' counters (open model only)."""
    if any(s.get("model") == "closed" for s in load_stats):
        return None
    ratio = metrics.gauges.get("achieved_rate_ratio")
    return None if ratio is None else abs(ratio - 1.0) * 100.0


def rate_tolerance_pct(load_stats: list[dict[str, Any]]) -> float:
    """The deviation worth a warning: 5 %, or three standard deviations of a random arrival count."""
    requested = sum(float(s.get("requested_arrivals") or 0) for s in load_stats)
    random = any(s.get("arrivals") in ("poisson", "gamma") for s in load_stats)
    if not random or requested <= 0:
        return RATE_WARN_PCT
    return max(RATE_WARN_PCT, 300.0 / math.sqrt(requested))


def add_load_checks(data: RunData, metrics: Metrics) -> Metrics:
    """Add the self-check and streaming metrics and warnings (see the module docstring)."""
    gauges, warnings = metrics.gauges, data.warnings
    share, worker = cpu_saturation(data.load_stats)
    saturated = share is not None and share >= SATURATED_SHARE
    deviation = rate_deviation_pct(metrics, data.load_stats)
    lag = metrics.series.get("send_lag_ms", pd.Series(dtype=float)).dropna()
    gauges["loadgen_cpu_saturation"] = None if share is None else round(share, 6)
    gauges["loadgen_saturated"] = 1.0 if saturated else 0.0
    gauges["rate_deviation_pct"] = None if deviation is None else round(deviation, 6)
    gauges["send_lag_p99_ms"] = round(float(np.percentile(lag.to_numpy(dtype=float), 99)), 6) if len(lag) else None
    if saturated:
        warnings.append(
            f"load generator saturated: worker {worker} was above 90% CPU in {share:.0%} of its samples; "
            "latency and rate figures include the generator's own delay (add load.workers or lower the rate)"
        )
    if deviation is not None and deviation > rate_tolerance_pct(data.load_stats):
        warnings.append(
            f"achieved arrival rate deviates {deviation:.1f}% from the requested rate "
            "(dropped arrivals or an interrupted run); see dropped_arrivals and send_lag_p99_ms"
        )
    metrics.detail["loadgen"] = {
        str(s.get("worker")): {"cpu": s.get("cpu"), "dropped": s.get("dropped"), "recorded": s.get("recorded")}
        for s in data.load_stats
    }
    _add_streaming(data.requests, metrics)
    return metrics


def _add_streaming(req: pd.DataFrame, metrics: Metrics) -> None:
    ttft, itl, itl_max = (_column(req, c) for c in ("ttft_ms", "itl_mean_ms", "itl_max_ms"))
    metrics.series.update({"ttft_ms": ttft, "itl_ms": itl, "itl_max_ms": itl_max})
    tokens = _column(req, "tokens_out").dropna()
    start, end = metrics.window_s
    metrics.gauges["output_tokens_per_s"] = (
        round(float(tokens.sum()) / max(end - start, 1e-9), 6) if len(tokens) else None
    )
    if ttft.notna().any():
        metrics.detail["ttft_ms"] = trend_summary(ttft)
        metrics.detail["itl_ms"] = trend_summary(itl)
        metrics.detail["itl_max_ms"] = trend_summary(itl_max)
        metrics.detail["tokens_out"] = trend_summary(tokens)
