"""A latency-vs-rate curve measured by ``kibench capacity`` as the service model (``kibench simulate --curve``):
probes.parquet written by the capacity code's own writer, read back, interpolated, and served in the fluid mode."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.capacity import ProbeRecord, write_outputs
from harness.cli import main
from harness.errors import RunFolderError
from harness.scenario import CapacityPlanSpec, validate
from harness.simulate import SimOptions, load_curve, simulate

# one replica probed at 5..25 rps: (rate, served, p50, p95, p99); it serves at most 20 rps
PROBES = [(5.0, 5.0, 60.0, 70.0, 80.0), (10.0, 10.0, 70.0, 90.0, 110.0), (15.0, 15.0, 100.0, 150.0, 200.0),
          (15.0, 15.0, 110.0, 170.0, 220.0), (20.0, 19.5, 200.0, 400.0, 600.0),
          (25.0, 20.0, 900.0, 2000.0, 3000.0)]  # fmt: skip


def _probes_file(root: Path) -> Path:
    records = [
        ProbeRecord(
            i,
            "bracket",
            rate,
            f"probes/{i:02d}",
            p95 < 500,
            latency_p50_ms=p50,
            latency_p95_ms=p95,
            latency_p99_ms=p99,
            throughput_rps=served,
            values={"latency_ms": p95},
        )  # fmt: skip
        for i, (rate, served, p50, p95, p99) in enumerate(PROBES, start=1)
    ]
    write_outputs(root, records, None, CapacityPlanSpec(), None, None, None)
    return root / "capacity" / "probes.parquet"


def _scenario(rate_rps: float, replicas: int = 2, duration: str = "30s", **service: object) -> object:
    return validate({
        "name": "curve",
        "service": {"replicas": replicas, "device_time_ms": 5, "cold_start": "1s", **service},
        "load": {"rate_rps": rate_rps, "duration": duration, "timeout": "60s", "max_concurrency": 100000},
        "slo_defaults": False,
    }, "test")  # fmt: skip


def test_the_curve_is_read_from_the_capacity_writers_probes(tmp_path: Path) -> None:
    curve = load_curve(_probes_file(tmp_path))
    assert curve.rates_rps == (5.0, 10.0, 15.0, 20.0, 25.0)  # the two probes at 15 rps by their median
    assert curve.quantiles_ms(15.0) == (105.0, 160.0, 210.0)
    assert curve.quantiles_ms(12.5) == pytest.approx((87.5, 125.0, 160.0))  # linear between the probes
    assert curve.quantiles_ms(1.0) == (60.0, 70.0, 80.0)  # clamped below the lowest probe
    assert curve.capacity_rps == 20.0  # the most a probe served
    assert load_curve(tmp_path).rates_rps == curve.rates_rps  # the run folder names the same file
    draws = curve.draw(10.0, 20000, np.random.default_rng(0))
    assert np.percentile(draws, 50) == pytest.approx(70.0, rel=0.02)
    assert np.percentile(draws, 95) == pytest.approx(90.0, rel=0.02)


def test_not_a_probes_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "requests.parquet"
    pd.DataFrame({"rate_rps": [1.0], "latency_ms": [5.0]}).to_parquet(bad)
    with pytest.raises(RunFolderError, match="throughput_rps.*kibench capacity"):
        load_curve(bad)


def test_each_replica_answers_as_the_curve_says_at_its_rate(tmp_path: Path) -> None:
    curve_file = _probes_file(tmp_path / "cap")
    options = SimOptions(curve=load_curve(curve_file))
    outcome = simulate(_scenario(rate_rps=20.0), tmp_path / "runs", options, analyse=False)  # 10 rps a replica
    assert outcome.mode == "fluid"
    rows = pd.read_parquet(outcome.run_dir / "requests.parquet")
    assert len(rows) == 600 and rows["ok"].all() and rows["replica"].nunique() == 2
    assert rows["latency_ms"].median() == pytest.approx(70.0, rel=0.05)
    assert rows["latency_ms"].quantile(0.95) == pytest.approx(90.0, rel=0.05)
    meta = json.loads((outcome.run_dir / "run.json").read_text())
    assert meta["simulation"]["curve"]["capacity_rps"] == 20.0


def test_over_the_curves_capacity_the_backlog_grows(tmp_path: Path) -> None:
    curve = load_curve(_probes_file(tmp_path / "cap"))
    outcome = simulate(_scenario(rate_rps=50.0, duration="20s"), tmp_path / "runs", SimOptions(curve=curve),
                       analyse=False)  # fmt: skip
    rows = pd.read_parquet(outcome.run_dir / "requests.parquet").sort_values("t_intended_s")
    ok = rows[rows["ok"]]
    early, late = ok["latency_ms"].iloc[:100].median(), ok["latency_ms"].iloc[-100:].median()
    # 25 rps a replica against 20 served: 5 rps of backlog a second, worked off at 20 rps: +0.25 s a second
    assert early < 3000.0 and late > early + 0.2 * 1000.0 * 15


def test_cli_takes_a_curve_and_refuses_it_per_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    curve_file = _probes_file(tmp_path / "cap")
    scenario = tmp_path / "s.yaml"
    scenario.write_text("name: c\nservice: {replicas: 2, device_time_ms: 5}\nload: {rate_rps: 20, duration: 10s}\n"
                        "slos: {latency_ms: ['p(95) < 500']}\n")  # fmt: skip

    def cli(*args: str) -> int:
        monkeypatch.setattr(sys, "argv", ["kibench", "simulate", str(scenario), "--results", str(tmp_path / "r"),
                                          "--curve", str(curve_file), *args])  # fmt: skip
        with pytest.raises(SystemExit) as exit_:
            main()
        return int(exit_.value.code or 0)

    assert cli() == 0
    assert cli("--mode", "des") == 2
