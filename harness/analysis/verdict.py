"""The verdict of a run: pass, "the service missed its SLO", or "the measurement is not trustworthy".

In: the ``SloResult`` list (the scenario's SLOs and the defaults).  Out: ``Verdict``: ``verdict``
(``pass`` or ``fail``), the exit code and a reason in plain words (summary.json ``verdict_reason``,
the report and the CLI print it):

- every SLO holds → ``pass``, exit 0, no reason;
- a self-check failed (``defaults.SELF_CHECK_METRICS``: the load generator or the platform was the
  bottleneck, arrivals were not sent) → ``fail``, exit 4, "the measurement is not trustworthy: ...".
  It wins over a failed service SLO, which is named after it ("also failed: ..."): a latency or error
  figure measured by a saturated harness may be the harness's own doing, so rerun before blaming the
  service;
- otherwise → ``fail``, exit 1, "the service missed its SLO: ...".
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.analysis.slo import SloResult
from harness.errors import EXIT_OK, EXIT_SELF_CHECK, EXIT_SLO_FAILED


@dataclass(frozen=True)
class Verdict:
    verdict: str  # pass | fail
    exit_code: int
    reason: str | None


def judge(results: list[SloResult]) -> Verdict:
    """The verdict, exit code and reason of a run (see the module docstring)."""
    failed = [r for r in results if not r.passed]
    if not failed:
        return Verdict("pass", EXIT_OK, None)
    checks = [r for r in failed if r.self_check]
    service = [r for r in failed if not r.self_check]
    if checks:
        reason = "the measurement is not trustworthy: " + "; ".join(describe(r) for r in checks)
        if service:
            reason += "; also failed: " + "; ".join(describe(r) for r in service)
        return Verdict("fail", EXIT_SELF_CHECK, reason)
    return Verdict("fail", EXIT_SLO_FAILED, "the service missed its SLO: " + "; ".join(describe(r) for r in service))


def describe(result: SloResult) -> str:
    """One failed SLO in words, e.g. ``error rate 100.0% (errors rate < 0.01, default)``."""
    tag = f"{result.metric} {result.expression}" + (", default" if result.default else "")
    return f"{_what(result.metric, result.value)} ({tag})"


def _what(metric: str, value: float | None) -> str:
    if value is None:
        return f"{metric} has no value (nothing was measured)"
    words = {
        "errors": f"error rate {value:.1%}",
        "error_rate": f"error rate {value:.1%}",
        "availability": f"availability {value:.1%}",
        "loadgen_saturated": "the load generator ran out of CPU",
        "loadgen_cpu_saturation": f"the load generator was above 90% CPU in {value:.0%} of its samples",
        "rate_deviation_pct": f"the achieved arrival rate was {value:.1f}% off the requested rate",
        "achieved_rate_ratio": f"the load generator sent {value:.1%} of the requested arrivals",
        "dropped_arrivals": f"{value:g} arrivals were dropped (never sent)",
        "platform_saturated": "the platform ran out of capacity (the host, not the service, was the limit)",
    }
    return words.get(metric, f"{metric} was {value:g}")
