"""A real A/A pair: two smoke runs on the local platform (run side by side) are not a regression, and each
real run folder carries report.html and a junit.xml that a JUnit reader parses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import junitparser
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.exclusive]  # two runs at once

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "from harness.cli import main; main()"]


@pytest.fixture(scope="session")
def smoke_pair(tmp_path_factory) -> list[Path]:
    """Two runs of scenarios/smoke.yaml (load shortened to 24 s), started together."""
    results = [tmp_path_factory.mktemp("aa") / side for side in ("a", "b")]
    procs = [subprocess.Popen([*CLI, "run", str(ROOT / "scenarios" / "smoke.yaml"), "--set", "load.duration=24s",
                               "--results", str(r)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in results]  # fmt: skip
    for proc in procs:
        out, _ = proc.communicate(timeout=240)
        assert proc.returncode in (0, 1), out
    return [next(p for p in r.iterdir() if p.is_dir()) for r in results]


def test_real_a_a_pair_is_not_a_regression(smoke_pair, tmp_path):
    out = tmp_path / "cmp"
    proc = subprocess.run([*CLI, "compare", str(smoke_pair[0]), str(smoke_pair[1]), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / "compare.json").read_text())
    assert result["verdict"] != "REGRESSION"
    metrics = {m["name"]: m for m in result["metrics"]}
    assert metrics["throughput_rps"]["verdict"] == "EQUIVALENT"  # same open-model arrivals on both sides
    assert min(result["baseline"]["windows"]) >= 6 and result["method"]["window_s"] < 10  # short runs: shorter windows


def test_real_runs_write_report_html_and_junit(smoke_pair):
    run = smoke_pair[0]
    summary = json.loads((run / "summary.json").read_text())
    assert (run / "report.html").stat().st_size > 20_000
    cases = [c for suite in junitparser.JUnitXml.fromfile(str(run / "junit.xml")) for c in suite]
    assert [c.name.split(" [")[0] for c in cases] == [f"{s['metric']} {s['expression']}" for s in summary["slos"]]
    assert {p["name"] for p in summary["phases"]} == {"steady", "steady_state"}
    assert summary["metrics"]["gpu_hours"] > 0 and 0 <= summary["metrics"]["idle_fraction"] <= 1
