"""kibench compare on synthetic runs with known answers: verdicts, A/A false regressions, interval coverage,
margins, --strict, refusal of unlike runs, repeats, too-short runs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.compare import Settings, compare_runs, compare_samples, parse_margin, verdict
from harness.compare.bootstrap import block_length, resample_counts
from harness.errors import InputError, UnlikeRunsError
from tests.compare.synth import sample, write_run


def by_name(result: dict) -> dict[str, dict]:
    return {m["name"]: m for m in result["metrics"]}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    """Run folders: a baseline and candidates shifted by 0 %, +2 %, +20 % (p95 and every other percentile)."""
    root = tmp_path_factory.mktemp("pairs")
    write_run(root / "base", 1)
    for name, seed, shift in (("same", 2, 1.0), ("plus2", 3, 1.02), ("plus20", 4, 1.2)):
        write_run(root / name, seed, shift=shift)
    return root


@pytest.mark.parametrize(
    ("candidate", "allowed"),
    [("same", {"EQUIVALENT"}), ("plus2", {"EQUIVALENT", "INCONCLUSIVE"}), ("plus20", {"REGRESSION"})],
)
def test_known_shifts_give_the_expected_p95_verdict(pairs, candidate, allowed):
    result = compare_runs(pairs / "base", pairs / candidate, Settings())
    p95 = by_name(result)["latency_ms.p95"]
    assert p95["verdict"] in allowed, p95
    if candidate == "plus20":
        assert 1.15 < p95["estimate"] < 1.25 and p95["ci"][0] > 1.05
        assert result["exit_code"] == 1 and result["verdict"] == "REGRESSION"
    else:
        assert result["exit_code"] == 0


def test_a_noisy_pair_is_not_a_regression():
    noisy = dict(windows=8, phi=0.8, level_sigma=0.25)
    result = compare_samples([sample(11, "b", **noisy)], [sample(12, "c", **noisy)], Settings())
    assert result["verdict"] != "REGRESSION"
    assert by_name(result)["latency_ms.p95"]["verdict"] == "INCONCLUSIVE"  # wide interval, crosses the margin


def test_false_regressions_on_50_seeded_a_a_pairs_at_most_5_percent():
    settings = Settings(resamples=500)
    verdicts = [compare_samples([sample(100 + 2 * i, "b", windows=24)], [sample(101 + 2 * i, "c", windows=24)],
                                settings)["verdict"] for i in range(50)]  # fmt: skip
    assert verdicts.count("REGRESSION") <= 2, verdicts


def test_intervals_cover_the_truth_under_autocorrelation():
    """A/A with strongly autocorrelated windows: the 95 % interval of p95 must contain 1 most of the time
    (a bootstrap over single requests or single windows would be far too narrow here)."""
    settings = Settings(resamples=400)
    kw = dict(windows=30, phi=0.6, level_sigma=0.06)
    hits = []
    for i in range(40):
        result = compare_samples([sample(500 + 2 * i, "b", **kw)], [sample(501 + 2 * i, "c", **kw)], settings)
        lo, hi = by_name(result)["latency_ms.p95"]["ci"]
        hits.append(lo <= 1.0 <= hi)
    assert sum(hits) / len(hits) >= 0.8, sum(hits)


def test_block_length_grows_with_autocorrelation():
    rng = np.random.default_rng(0)
    e = rng.normal(size=400)
    ar = np.zeros(400)
    for i in range(1, 400):
        ar[i] = 0.9 * ar[i - 1] + e[i]
    assert block_length(e) < 2.0 < 8.0 < block_length(ar)
    assert block_length(np.ones(50)) == 1.0


def test_resamples_are_hierarchical_over_runs_and_circular_within():
    counts = resample_counts([10, 6], block=3, resamples=300, rng=np.random.default_rng(1))
    totals = counts.sum(axis=1)
    assert set(np.unique(totals)) <= {12.0, 16.0, 20.0}  # two runs drawn with replacement, each whole
    assert (counts[:, :10].sum(axis=1) == 0).any() and (counts[:, 10:].sum(axis=1) == 0).any()


@pytest.mark.parametrize(
    ("lo", "hi", "better", "expected"),
    [(1.06, 1.2, "lower", "REGRESSION"), (0.8, 0.9, "lower", "IMPROVEMENT"), (0.97, 1.04, "lower", "EQUIVALENT"),
     (0.99, 1.08, "lower", "INCONCLUSIVE"), (0.8, 0.94, "higher", "REGRESSION"), (1.06, 1.1, "higher", "IMPROVEMENT")],
)  # fmt: skip
def test_verdict_rules(lo, hi, better, expected):
    assert verdict("ratio", better, lo, hi, 0.05) == expected


def test_margins_parse_and_change_the_verdict(pairs):
    assert parse_margin("latency_ms.p95=5%") == ("latency_ms.p95", 0.05)
    assert parse_margin("error_rate=0.5%") == ("error_rate", 0.005)
    with pytest.raises(InputError, match="latency_ms.p95=5%"):
        parse_margin("latency.p95=5%")
    wide = Settings(margins={"latency_ms.p50": 0.3, "latency_ms.p95": 0.3, "latency_ms.p99": 0.3})
    assert by_name(compare_runs(pairs / "base", pairs / "plus20", wide))["latency_ms.p95"]["verdict"] == "EQUIVALENT"


def test_strict_fails_on_inconclusive():
    noisy = dict(windows=8, phi=0.8, level_sigma=0.25)
    base, cand = [sample(11, "b", **noisy)], [sample(12, "c", **noisy)]
    assert compare_samples(base, cand, Settings())["exit_code"] == 0
    assert compare_samples(base, cand, Settings(strict=True))["exit_code"] == 1


def test_unlike_runs_are_refused_naming_the_difference(tmp_path):
    write_run(tmp_path / "a", 1)
    write_run(tmp_path / "b", 2, rate=50.0)
    with pytest.raises(UnlikeRunsError, match=r"workload: load\.rate_rps 40 vs 50"):
        compare_runs(tmp_path / "a", tmp_path / "b", Settings())
    scenario = (tmp_path / "b" / "scenario.yaml").read_text().replace("rate_rps: 50", "rate_rps: 40")
    (tmp_path / "b" / "scenario.yaml").write_text(scenario.replace("device_time_ms: 50", "device_time_ms: 60"))
    with pytest.raises(UnlikeRunsError, match=r"scenario: service\.device_time_ms 50 vs 60"):
        compare_runs(tmp_path / "a", tmp_path / "b", Settings())
    allowed = compare_runs(tmp_path / "a", tmp_path / "b", Settings(allow_diff=("service.device_time_ms",)))
    assert allowed["method"]["allowed_differences"] == ["service.device_time_ms"]


def test_repeats_on_each_side(tmp_path):
    for i in range(3):
        write_run(tmp_path / "base" / f"r{i}", 20 + i, windows=12)
        write_run(tmp_path / "cand" / f"r{i}", 30 + i, windows=12, shift=1.25)
    result = compare_runs(tmp_path / "base", f"{tmp_path / 'cand' / 'r0'},{tmp_path / 'cand' / 'r1'}", Settings())
    assert result["baseline"]["windows"] == [12, 12, 12] and len(result["candidate"]["run_ids"]) == 2
    assert "hierarchical" in result["method"]["bootstrap"]
    assert by_name(result)["latency_ms.p95"]["verdict"] == "REGRESSION"


def test_too_short_runs_exit_2_with_the_fix(tmp_path, kibench):
    write_run(tmp_path / "a", 1, windows=1)
    write_run(tmp_path / "b", 2, windows=1)
    proc = subprocess.run([*kibench, "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--window", "10"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "at least 6" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_writes_every_output_and_exits_1_on_regression(pairs, tmp_path, kibench):
    out, step = tmp_path / "cmp", tmp_path / "step.md"
    proc = subprocess.run([*kibench, "compare", str(pairs / "base"), str(pairs / "plus20"), "--out", str(out),
                           "--summary-md", str(step), "--margin", "latency_ms.p99=50%"],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "verdict: REGRESSION (exit 1)" in proc.stdout
    result = json.loads((out / "compare.json").read_text())
    assert by_name(result)["latency_ms.p99"]["margin"] == 0.5
    assert {p.name for p in out.iterdir()} == {"compare.json", "compare.md", "compare.html", "junit.xml"}
    assert "REGRESSION" in step.read_text() and "latency_ms.p95" in (out / "compare.md").read_text()
