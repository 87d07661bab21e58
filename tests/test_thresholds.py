"""k6-style threshold parsing and evaluation."""

from __future__ import annotations

import pytest

from harness.errors import ThresholdError
from harness.thresholds import parse


@pytest.mark.parametrize(
    ("metric", "expr", "agg", "pct", "op", "limit"),
    [
        ("latency_ms", "p(95) < 800", "p", 95.0, "<", 800.0),
        ("latency_ms", "p(99.9)<=2000", "p", 99.9, "<=", 2000.0),
        ("latency_ms", "avg < 200", "avg", None, "<", 200.0),
        ("latency_ms", "max <= 2000", "max", None, "<=", 2000.0),
        ("latency_ms", "med > 1e1", "med", None, ">", 10.0),
        ("errors", "rate < 0.01", "rate", None, "<", 0.01),
        ("requests", "count >= 100", "count", None, ">=", 100.0),
        ("throughput_rps", "value >= 19.5", "value", None, ">=", 19.5),
    ],
)
def test_parse(metric, expr, agg, pct, op, limit):
    th = parse(metric, expr)
    assert (th.aggregation, th.percentile, th.op, th.limit) == (agg, pct, op, limit)


@pytest.mark.parametrize(
    ("metric", "expr", "message"),
    [
        ("latency_ms", "p95 < 800", "cannot parse"),
        ("latency_ms", "p(0) < 800", "percentile"),
        ("latency_ms", "p(101) < 800", "percentile"),
        ("latency_ms", "rate < 0.1", "trend metric"),
        ("errors", "p(95) < 1", "rate metric"),
        ("throughput_rps", "avg > 1", "gauge metric"),
        ("nope_ms", "avg < 1", "unknown metric"),
        ("latency_ms", "avg < fast", "cannot parse"),
    ],
)
def test_parse_errors(metric, expr, message):
    with pytest.raises(ThresholdError, match=message):
        parse(metric, expr)


@pytest.mark.parametrize(
    ("expr", "value", "holds"),
    [
        ("p(95) < 800", 799.9, True),
        ("p(95) < 800", 800.0, False),
        ("p(95) <= 800", 800.0, True),
        ("avg > 5", 5.0, False),
        ("avg >= 5", 5.0, True),
        ("max == 3", 3.0, True),
        ("max != 3", 3.0, False),
        ("avg < 5", None, False),
        ("avg < 5", float("nan"), False),
    ],
)
def test_holds(expr, value, holds):
    assert parse("latency_ms", expr).holds(value) is holds
