"""Right-sizing in the summary: a synthetic run folder whose usage.parquet has known numbers (4 pods each using
0.25 core of the 4 requested and 300 MiB of the 2048 MiB requested): utilisation, the VPA target, the money, the
gauges in SLOs."""

from __future__ import annotations

import json

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


def test_a_cluster_s_vpa_recommendation_and_warnings_reach_the_summary(tmp_path):
    """resources.json (a run on a cluster): the VPA object's target beside ours, in an SLO; its warnings kept."""
    root = make_spike_run(tmp_path / "run")
    scenario = root / "scenario.yaml"
    scenario.write_text(scenario.read_text() + '  vpa_cpu_target_cores: ["value < 0.2"]\n')
    _usage(root)
    target = {"cpu_target_cores": 0.3, "memory_target_mib": 400.0, "cpu_lower_bound_cores": 0.1}
    record = {"vpa": {"object": "VerticalPodAutoscaler ns/svc", "containers": {"service": target}},
              "warnings": ["the cluster said so"]}  # fmt: skip
    (root / "resources.json").write_text(json.dumps(record))
    summary, _ = analyze(root)
    m = summary["metrics"]
    assert m["vpa_cpu_target_cores"] == 0.3 and m["vpa_memory_target_mib"] == 400.0
    assert m["cpu_recommended_cores"] is not None  # ours, beside the cluster's
    assert m["vpa_recommendation"]["containers"]["service"]["cpu_lower_bound_cores"] == 0.1
    assert "the cluster said so" in summary["warnings"]
    slo = next(s for s in summary["slos"] if s["metric"] == "vpa_cpu_target_cores")
    assert slo["pass"] is False and slo["value"] == 0.3


def test_rows_without_cpu_are_not_right_sized(tmp_path):
    """GPU samples alone (a cluster without metrics-server, DCGM from Prometheus): the CPU/memory keys stay null."""
    root = make_spike_run(tmp_path / "run")
    rows = pd.DataFrame({"t_s": [1.0, 2.0], "namespace": "ns", "pod": "p", "container": None, "node": None,
                         "cpu_cores": np.nan, "memory_bytes": np.nan, "gpu_util_pct": [50.0, 60.0]})  # fmt: skip
    rows.to_parquet(root / "usage.parquet")
    summary, _ = analyze(root)
    assert summary["metrics"]["cpu_request_utilisation"] is None and summary["metrics"]["rightsizing"] is None
    assert summary["metrics"]["vpa_cpu_target_cores"] is None and summary["metrics"]["vpa_recommendation"] is None
