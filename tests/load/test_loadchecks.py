"""Load-generator self-checks and streaming metrics in the analysis (harness/analysis/loadchecks.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.analysis.loadchecks import add_load_checks, cpu_saturation
from harness.analysis.metrics import Metrics
from harness.analysis.runfolder import RunData
from harness.analysis.slo import evaluate
from harness.model import RunFiles
from harness.thresholds import parse


def _run(tmp_path, stats: list[dict], requests: pd.DataFrame | None = None) -> tuple[RunData, Metrics]:
    req = requests if requests is not None else pd.DataFrame({"t_sent_s": [0.0], "t_intended_s": [0.0]})
    data = RunData(RunFiles(tmp_path), {}, req, pd.DataFrame(), [], stats)
    lag = (req["t_sent_s"] - req["t_intended_s"]) * 1000
    requested = sum(s.get("requested_arrivals", 0) for s in stats)
    sent = sum(s.get("scheduled", 0) for s in stats)
    gauges = {"achieved_rate_ratio": sent / requested if requested else None}
    return data, Metrics(gauges, {"send_lag_ms": lag}, (0.0, 10.0))


def _worker(name: str, samples: int, saturated: int, requested: float = 100, scheduled: int = 100) -> dict:
    return {
        "worker": name,
        "model": "open",
        "requested_arrivals": requested,
        "scheduled": scheduled,
        "dropped": int(requested) - scheduled,
        "cpu": {"samples": samples, "saturated_samples": saturated},
    }


def test_a_saturated_worker_is_flagged_in_gauges_and_warnings(tmp_path):
    data, metrics = _run(tmp_path, [_worker("w0", 20, 1), _worker("w1", 20, 8)])
    add_load_checks(data, metrics)
    assert metrics.gauges["loadgen_cpu_saturation"] == pytest.approx(0.4)
    assert metrics.gauges["loadgen_saturated"] == 1.0
    assert any("load generator saturated: worker w1" in w for w in data.warnings)
    result = evaluate([parse("loadgen_saturated", "value < 1")], metrics)[0]
    assert not result.passed


def test_an_idle_generator_passes(tmp_path):
    data, metrics = _run(tmp_path, [_worker("w0", 30, 0)])
    add_load_checks(data, metrics)
    assert metrics.gauges["loadgen_saturated"] == 0.0 and metrics.gauges["loadgen_cpu_saturation"] == 0.0
    assert metrics.gauges["rate_deviation_pct"] == 0.0 and data.warnings == []


def test_rate_deviation_and_send_lag(tmp_path):
    req = pd.DataFrame({"t_intended_s": [i * 0.01 for i in range(100)]})
    req["t_sent_s"] = req["t_intended_s"] + ([0.001] * 98 + [0.05, 0.2])
    data, metrics = _run(tmp_path, [_worker("w0", 10, 0, requested=100, scheduled=90)], req)
    add_load_checks(data, metrics)
    assert metrics.gauges["rate_deviation_pct"] == pytest.approx(10.0)
    assert 40 < metrics.gauges["send_lag_p99_ms"] < 200
    assert any("deviates 10.0%" in w for w in data.warnings)


def test_closed_model_has_no_rate_deviation_and_no_samples_means_unknown(tmp_path):
    stats = [{"worker": "w0", "model": "closed", "requested_arrivals": 0, "scheduled": 50}]
    data, metrics = _run(tmp_path, stats)
    add_load_checks(data, metrics)
    assert metrics.gauges["rate_deviation_pct"] is None
    assert metrics.gauges["loadgen_cpu_saturation"] is None and metrics.gauges["loadgen_saturated"] == 0.0
    assert cpu_saturation([]) == (None, None)


def test_streaming_metrics_from_rows(tmp_path):
    req = pd.DataFrame(
        {
            "t_intended_s": [0.0, 1.0, 2.0],
            "t_sent_s": [0.0, 1.0, 2.0],
            "ttft_ms": [100.0, 200.0, None],
            "itl_mean_ms": [10.0, 20.0, None],
            "itl_max_ms": [30.0, 40.0, None],
            "tokens_out": [50, 70, None],
        }
    )
    data, metrics = _run(tmp_path, [_worker("w0", 5, 0)], req)
    add_load_checks(data, metrics)
    assert metrics.gauges["output_tokens_per_s"] == pytest.approx(12.0)  # 120 tokens over 10 s
    assert metrics.detail["ttft_ms"]["p50"] == pytest.approx(150.0)
    values = {
        r.metric: r.value
        for r in evaluate(
            [parse("ttft_ms", "p(50) < 1000"), parse("itl_ms", "max < 100"), parse("itl_max_ms", "avg < 100")], metrics
        )
    }
    assert values == {"ttft_ms": 150.0, "itl_ms": 20.0, "itl_max_ms": 35.0}


def test_runs_without_streaming_columns_still_analyse(tmp_path):
    data, metrics = _run(tmp_path, [_worker("w0", 5, 0)])
    add_load_checks(data, metrics)
    assert metrics.gauges["output_tokens_per_s"] is None and "ttft_ms" not in metrics.detail
    assert evaluate([parse("ttft_ms", "p(95) < 10")], metrics)[0].value is None


def test_random_arrival_counts_get_a_wider_tolerance(tmp_path):
    poisson = {**_worker("w0", 5, 0, requested=100, scheduled=92), "arrivals": "poisson"}
    data, metrics = _run(tmp_path, [poisson])
    add_load_checks(data, metrics)
    assert metrics.gauges["rate_deviation_pct"] == pytest.approx(8.0)
    assert data.warnings == []  # 8 % of 100 random arrivals is within three standard deviations (30 %)
    uniform = {**_worker("w0", 5, 0, requested=100, scheduled=92), "arrivals": "uniform"}
    data, metrics = _run(tmp_path, [uniform])
    add_load_checks(data, metrics)
    assert any("deviates 8.0%" in w for w in data.warnings)
