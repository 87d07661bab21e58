"""Right-sizing in the summary: a synthetic run folder whose usage.parquet has known numbers (4 pods each using
0.25 core of the 4 requested and 300 MiB of the 2048 MiB requested): utilisation, the VPA target, the money, the
gauges in SLOs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.analysis import analyze
from tests.analysis.test_phases_cost_score import make_spike_run

MIB = 2**20


def _usage(root, memory_request_mib: float = 2048) -> None:
    rows = []
    for pod in ("a", "b", "c", "d"):
        for t in np.arange(0.0, 33.0):
            rows.append({"t_s": t, "namespace": "default", "pod": pod, "container": "service", "node": "n0",
                         "cpu_cores": 0.25, "memory_bytes": 300 * MIB, "cpu_request_cores": 4.0,
                         "cpu_limit_cores": 0.0, "memory_request_bytes": int(memory_request_mib * MIB),
                         "memory_limit_bytes": 0})  # fmt: skip
    pd.DataFrame(rows).to_parquet(root / "usage.parquet")


def test_requested_used_recommended_and_the_money(tmp_path):
    root = make_spike_run(tmp_path / "run")
    scenario = (root / "scenario.yaml").read_text()
    scenario = scenario.replace("cpu_hour_usd: 0.36}", "cpu_hour_usd: 0.36, memory_gib_hour_usd: 0.05}")
    scenario += '  cpu_request_utilisation: ["value > 0.5"]\n'
    (root / "scenario.yaml").write_text(scenario)
    _usage(root)
    summary, code = analyze(root)
    m = summary["metrics"]
    assert m["cpu_request_utilisation"] == pytest.approx(0.25 / 4)
    assert m["memory_request_utilisation"] == pytest.approx(300 / 2048, abs=1e-4)
    assert m["cpu_recommended_cores"] == pytest.approx(0.25 * 1.15, rel=0.06)  # p90 (bucket end) + 15 %
    assert m["memory_recommended_mib"] == pytest.approx(300 * 1.15, rel=0.06)
    saved = (4 - m["cpu_recommended_cores"]) * 0.36 + (2048 - m["memory_recommended_mib"]) / 1024 * 0.05
    assert m["rightsizing_savings_usd_per_replica_hour"] == pytest.approx(saved, rel=1e-4)
    table = m["rightsizing"]["service"]
    assert table["pods"] == 4 and table["cpu_lower_bound_cores"] <= table["cpu_recommended_cores"]
    slo = next(s for s in summary["slos"] if s["metric"] == "cpu_request_utilisation")
    assert slo["pass"] is False and code == 1  # 6 % of the CPU request used: the SLO fails


def test_no_usage_file_means_no_gauges(tmp_path):
    summary, _ = analyze(make_spike_run(tmp_path / "run"))
    assert summary["metrics"]["cpu_request_utilisation"] is None and summary["metrics"]["rightsizing"] is None
