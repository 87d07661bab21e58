"""The resilience score: 0-100, the weighted share of the SLOs that hold (krkn's scoring).

In: the thresholds, the run's ``Metrics`` and the per-phase ``Metrics``.  Out: every SLO result, in the
scenario's order, and the score, set as the ``resilience_score`` gauge so that SLOs can name it
(``resilience_score: ["value >= 90"]``).  Each SLO weighs its ``weight`` (default by severity: critical 3,
warning 1); SLOs on ``resilience_score`` itself are left out of the score and evaluated after it.  No
other SLO: the score is None (a threshold on it then fails).
"""

from __future__ import annotations

from harness.analysis.metrics import Metrics
from harness.analysis.slo import SloResult, evaluate
from harness.thresholds import Threshold

SCORE_METRIC = "resilience_score"


def resilience_score(results: list[SloResult]) -> float | None:
    """100 x sum of the weights of the SLOs that hold / sum of all weights (None without SLOs)."""
    scored = [r for r in results if r.metric != SCORE_METRIC]
    total = sum(r.weight for r in scored)
    if not scored or total <= 0:
        return None
    return round(100.0 * sum(r.weight for r in scored if r.passed) / total, 3)


def evaluate_scored(
    thresholds: list[Threshold], metrics: Metrics, phases: dict[str, Metrics]
) -> list[SloResult]:
    """Evaluate every SLO; set ``metrics.gauges['resilience_score']`` between the two passes."""
    first = [t for t in thresholds if t.metric != SCORE_METRIC]
    results = dict(zip(map(id, first), evaluate(first, metrics, phases), strict=True))
    metrics.gauges[SCORE_METRIC] = resilience_score(list(results.values()))
    second = [t for t in thresholds if t.metric == SCORE_METRIC]
    results.update(zip(map(id, second), evaluate(second, metrics, phases), strict=True))
    return [results[id(t)] for t in thresholds]
