"""The scenario's ``slos`` entries: a k6 threshold string or its object form with a severity and a weight.

In: a metric name and one entry.  Out: ``SloSpec``; ``_parse_slo`` makes a ``thresholds.Threshold`` (or raises
``ThresholdError``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from harness import thresholds
from harness.scenario.units import _Model


class SloSpec(_Model):
    """One SLO with its weight in the resilience score (k6's object form: ``{threshold: "p(95) < 500"}``)."""

    threshold: str = Field(description="k6 threshold expression, e.g. 'p(95) < 500'")
    severity: Literal["critical", "warning"] = Field("critical", description="critical weighs 3, warning 1")
    weight: float | None = Field(None, gt=0, description="weight in the resilience score (default: the severity's)")


def _parse_slo(metric: str, entry: str | SloSpec) -> thresholds.Threshold:
    if isinstance(entry, SloSpec):
        return thresholds.parse(metric, entry.threshold, entry.severity, entry.weight)
    return thresholds.parse(metric, entry)
