"""Default SLOs, their replacement and the verdict's exit codes, on synthetic run folders (real analysis)."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.analysis import analyze
from harness.analysis.defaults import default_thresholds, rate_limit_pct
from harness.analysis.metrics import Metrics
from harness.analysis.slo import evaluate
from harness.analysis.verdict import judge
from harness.errors import EXIT_OK, EXIT_SELF_CHECK, EXIT_SLO_FAILED
from harness.report import build_report
from harness.scenario import validate
from tests.analysis.runfolder import slos_by_metric, write_run

NO_SLOS = "name: plain\nload: {rate_rps: 10, duration: 10s}\n"
SATURATED = {"cpu": {"samples": 10, "saturated_samples": 5}}


def test_a_run_without_slos_fails_on_the_default_error_rate(tmp_path):
    summary, code = analyze(write_run(tmp_path / "run", NO_SLOS, n_errors=2))
    assert code == EXIT_SLO_FAILED and summary["verdict"] == "fail"
    slos = slos_by_metric(summary)
    assert set(slos) == {"errors", "loadgen_saturated", "rate_deviation_pct"}
    assert all(s["default"] for s in slos.values())
    errors = slos["errors"]
    assert errors["expression"] == "rate < 0.01" and errors["value"] == pytest.approx(0.02) and not errors["pass"]
    assert not errors["self_check"] and slos["loadgen_saturated"]["self_check"]
    assert summary["verdict_reason"] == "the service missed its SLO: error rate 2.0% (errors rate < 0.01, default)"


def test_a_clean_run_passes_its_defaults_and_the_report_marks_them(tmp_path):
    root = write_run(tmp_path / "run", NO_SLOS)
    summary, code = analyze(root)
    assert code == EXIT_OK and summary["verdict_reason"] is None
    assert [s["pass"] for s in summary["slos"]] == [True, True, True]
    build_report(root)
    report = (root / "report.md").read_text()
    assert "| errors | `rate < 0.01` (default) | 0 | pass |" in report
    assert "| loadgen_saturated | `value < 1` (default) | 0 | pass (self-check) |" in report


@pytest.mark.parametrize(
    "slo", ['errors: ["rate < 0.05"]', 'error_rate: ["value < 0.05"]', 'availability: ["value >= 0.95"]']
)
def test_the_scenarios_own_error_slo_replaces_the_default(tmp_path, slo):
    summary, code = analyze(write_run(tmp_path / "run", NO_SLOS + f"slos:\n  {slo}\n", n_errors=2))
    assert code == EXIT_OK
    own = [s for s in summary["slos"] if not s["default"]]
    assert len(own) == 1 and own[0]["pass"]
    assert "errors" not in {s["metric"] for s in summary["slos"] if s["default"]}
    assert {s["metric"] for s in summary["slos"] if s["default"]} == {"loadgen_saturated", "rate_deviation_pct"}


def test_slo_defaults_false_restores_the_old_verdict(tmp_path):
    scenario = NO_SLOS + "slo_defaults: false\n"
    summary, code = analyze(write_run(tmp_path / "run", scenario, n_errors=50, stats=[SATURATED]))
    assert code == EXIT_OK and summary["verdict"] == "pass" and summary["slos"] == []
    assert any("50.0% of requests failed" in w for w in summary["warnings"])  # warnings stay


def test_a_saturated_generator_is_a_self_check_failure_and_wins_over_the_service(tmp_path):
    summary, code = analyze(write_run(tmp_path / "run", NO_SLOS, n_errors=5, stats=[SATURATED]))
    assert code == EXIT_SELF_CHECK and summary["verdict"] == "fail"
    reason = summary["verdict_reason"]
    assert reason.startswith("the measurement is not trustworthy: the load generator ran out of CPU")
    assert "also failed: error rate 5.0%" in reason


def test_a_self_check_slo_of_the_scenarios_own_exits_4_too(tmp_path):
    scenario = NO_SLOS + 'slos:\n  loadgen_cpu_saturation: ["value < 0.2"]\n'
    summary, code = analyze(write_run(tmp_path / "run", scenario, stats=[SATURATED]))
    assert code == EXIT_SELF_CHECK
    slos = slos_by_metric(summary)
    assert "loadgen_saturated" not in slos  # replaced by the scenario's loadgen_cpu_saturation SLO
    assert slos["loadgen_cpu_saturation"]["self_check"] and not slos["loadgen_cpu_saturation"]["default"]


def test_an_open_model_run_that_sent_too_few_arrivals_fails_the_rate_check(tmp_path):
    summary, code = analyze(write_run(tmp_path / "run", NO_SLOS, stats=[{"scheduled": 95, "dropped": 5}]))
    rate = slos_by_metric(summary)["rate_deviation_pct"]
    assert code == EXIT_SELF_CHECK and rate["value"] == pytest.approx(5.0) and rate["expression"] == "value <= 2"
    assert "achieved arrival rate was 5.0% off the requested rate" in summary["verdict_reason"]
    assert any(w.startswith("5 arrivals were dropped (5.0% of those requested)") for w in summary["warnings"])


def test_the_rate_check_allows_random_arrival_counts_and_skips_closed_and_interrupted_runs(tmp_path):
    poisson = NO_SLOS.replace("duration: 10s", "duration: 10s, arrivals: poisson")
    summary, code = analyze(write_run(tmp_path / "p", poisson, stats=[{"scheduled": 92, "arrivals": "poisson"}]))
    assert code == EXIT_OK and slos_by_metric(summary)["rate_deviation_pct"]["expression"] == "value <= 30"
    closed = "name: c\nload: {model: closed, users: 2, duration: 10s}\n"
    summary, code = analyze(write_run(tmp_path / "c", closed, stats=[{"model": "closed", "requested_arrivals": 0}]))
    assert code == EXIT_OK and set(slos_by_metric(summary)) == {"errors", "loadgen_saturated"}
    cut = write_run(tmp_path / "i", NO_SLOS, stats=[{"scheduled": 40}], meta={"complete": False})
    summary, code = analyze(cut)
    assert code == EXIT_OK and "rate_deviation_pct" not in slos_by_metric(summary)


def test_rate_limit_widens_only_where_a_correct_generator_cannot_hit_two_percent():
    uniform = validate({"name": "u", "load": {"rate_rps": 1, "duration": 10}}, "t")
    assert rate_limit_pct(uniform, 1000) == 2.0 and rate_limit_pct(uniform, 20) == 5.0
    bursty = {"rate_rps": 1, "duration": 10, "arrivals": "gamma", "burstiness": 0.25}
    gamma = validate({"name": "g", "load": bursty}, "t")
    assert rate_limit_pct(gamma, 10_000) == pytest.approx(6.0)  # 300 / sqrt(10000 * 0.25)


def test_the_platform_check_applies_only_when_the_gauge_exists():
    scenario = validate({"name": "p", "load": {"rate_rps": 1, "duration": 10}}, "t")
    stats = [{"requested_arrivals": 10}]
    gauges = {"error_rate": 0.0, "loadgen_saturated": 0.0, "rate_deviation_pct": 0.0}
    metrics = Metrics(dict(gauges), {"errors": pd.Series([False] * 10)}, (0.0, 10.0))
    assert "platform_saturated" not in {t.metric for t in default_thresholds(scenario, metrics, stats)}
    metrics.gauges["platform_saturated"] = None  # present but unknown: not judged
    assert "platform_saturated" not in {t.metric for t in default_thresholds(scenario, metrics, stats)}
    metrics.gauges["platform_saturated"] = 1.0
    results = evaluate(default_thresholds(scenario, metrics, stats), metrics, default=True)
    [platform] = [r for r in results if r.metric == "platform_saturated"]
    assert not platform.passed and platform.self_check and platform.default
    verdict = judge(results)
    assert verdict.exit_code == EXIT_SELF_CHECK and "the platform ran out of capacity" in (verdict.reason or "")
