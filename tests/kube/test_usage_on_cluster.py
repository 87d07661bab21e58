"""Usage on a cluster (``platform.kind: kubernetes``), against embedded clusters started on their own: the run's
PodMetrics (metrics.k8s.io) become usage.parquet, DCGM gauges come from a real Prometheus (Debian's package,
scraping the replicas over loopback; skipped, saying so, when it is not installed) into its GPU columns, and the
VerticalPodAutoscaler's recommendation is reported beside kibench's own, also from ``kibench cluster run`` (whose
Role lets it read PodMetrics and its VPA, and nothing more).  A cluster without metrics-server (its API answers
404) still runs, with the usage keys null and a warning saying how to install it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

from harness.platform.kubernetes import harness_job, prometheus
from harness.platform.kubernetes.resource_record import usage_table
from harness.platform.kubernetes.usage import UsagePoller
from harness.platform.local.client import start_daemon
from harness.platform.local.spec import ClusterSpec
from harness.procs import stop
from harness.scenario import load_scenario
from tests.kube.prometheus_server import Prometheus, binary, free_port, start_prometheus

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
KIBENCH = [sys.executable, "-c", "from harness.cli import main; main()"]
LOCAL_COLUMNS = {"t_s", "namespace", "pod", "container", "node", "cpu_cores", "memory_bytes", "cpu_request_cores",
                 "cpu_limit_cores", "memory_request_bytes", "memory_limit_bytes"}  # fmt: skip
NO_PROMETHEUS = "Prometheus is not installed (bash scripts/ensure-prometheus.sh, or apt-get install prometheus)"


@dataclass
class Clusters:
    with_metrics: Path  # kubeconfigs
    without_metrics: Path
    hello: dict  # the with-metrics cluster's daemon: its API and token (for its audit)


@pytest.fixture(scope="module")
def clusters(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clusters]:
    """Two embedded clusters with a metric resolution of 2 s, the second without metrics-server."""
    folder = tmp_path_factory.mktemp("usage")
    procs, hellos = [], []
    try:
        for name, metrics_api in (("with", True), ("without", False)):
            spec = ClusterSpec({"hpa": {"metric_resolution": 2}}, metrics_api=metrics_api)
            proc, hello = start_daemon(spec, str(folder / name / "logs"), str(folder / name / "kubeconfig"))
            procs.append(proc)
            hellos.append(hello)
        yield Clusters(folder / "with" / "kubeconfig", folder / "without" / "kubeconfig", hellos[0])
    finally:
        for proc in procs:
            stop(proc, grace_s=10)


@pytest.fixture(scope="module")
def prom(clusters: Clusters, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A real Prometheus scraping both clusters' replicas (skipped, saying why, when it is not installed)."""
    if binary() is None:
        pytest.skip(NO_PROMETHEUS)
    started = start_prometheus(tmp_path_factory.mktemp("prometheus"), [clusters.with_metrics, clusters.without_metrics])
    assert started is not None
    try:
        yield started
    finally:
        started.close()


def run(kubeconfig: Path, tmp: Path, *sets: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    argv = [*KIBENCH, "run", str(SMOKE), "--results", str(tmp / "results"), "--set", "platform.kind=kubernetes",
            "--set", f"platform.kubeconfig={kubeconfig}", "--set", "platform.hpa.metric_resolution=2s",
            "--set", "service.cold_start=0", *(a for s in sets for a in ("--set", s))]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_CONTEXT")}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    folders = list((tmp / "results").iterdir()) if (tmp / "results").exists() else []
    assert len(folders) == 1, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc, folders[0]


@pytest.mark.slow
def test_usage_gpu_and_the_vpa_recommendation_of_a_cluster_run(clusters, prom, tmp_path):
    proc, folder = run(clusters.with_metrics, tmp_path, "load.duration=8s", "platform.vpa=true",
                       f"platform.prometheus_url={prom.url}")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    usage = pd.read_parquet(folder / "usage.parquet")
    assert set(usage.columns) == LOCAL_COLUMNS | {"gpu_util_pct", "gpu_memory_used_mib"}
    assert usage["pod"].nunique() == 2 and (usage["container"] == "service").all() and usage["node"].str.len().all()
    assert not usage.duplicated(["pod", "t_s"]).any()  # one row per pod and metrics window
    assert usage.groupby("pod")["t_s"].count().min() >= 3  # 8 s of load and more, a window every 2 s
    assert (usage["memory_bytes"] > 5 * 2**20).all() and (usage["cpu_request_cores"] == 1.0).all()
    assert usage["cpu_cores"].max() > 0
    gpu = usage.dropna(subset=["gpu_util_pct"])
    assert len(gpu) >= 2 and gpu["gpu_util_pct"].between(0, 100).all()
    assert (gpu["gpu_util_pct"] > 0).any()  # the replicas were busy under load
    assert (gpu["gpu_memory_used_mib"] >= 2048).all()  # the emulated framebuffer: 2 GiB of weights and more

    summary = json.loads((folder / "summary.json").read_text())
    m = summary["metrics"]
    assert m["cpu_request_utilisation"] is not None and m["cpu_recommended_cores"] >= 0.025
    assert m["vpa_cpu_target_cores"] >= 0.025 and m["vpa_memory_target_mib"] >= 250  # upstream's minimums
    theirs = m["vpa_recommendation"]["containers"]["service"]
    assert theirs["cpu_lower_bound_cores"] <= theirs["cpu_target_cores"] <= theirs["cpu_upper_bound_cores"]
    assert not [w for w in summary["warnings"] if "metrics" in w or "VerticalPodAutoscaler" in w or "GPU" in w]
    record = json.loads((folder / "resources.json").read_text())
    assert record["usage"]["poll_period_s"] == 2.0 and record["usage"]["gpu_samples"] >= 2


@pytest.mark.slow
def test_without_metrics_server_the_run_goes_on_with_null_usage_keys_and_a_warning(clusters, tmp_path):
    proc, folder = run(clusters.without_metrics, tmp_path, "load.duration=4s")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"]["requests"] >= 70
    assert summary["metrics"]["cpu_request_utilisation"] is None and summary["metrics"]["rightsizing"] is None
    (warning,) = [w for w in summary["warnings"] if "metrics-server" in w]
    assert warning.startswith("metrics-server is missing") and "components.yaml" in warning
    assert not (folder / "usage.parquet").exists()
    assert json.loads((folder / "resources.json").read_text())["usage"]["windows"] == 0


@pytest.mark.slow
def test_prometheus_errors_become_warnings(prom):
    now = time.time()
    samples, warning = prometheus.dcgm_usage(prom.url, "nowhere", "nothing", now - 30, now, 1)
    assert samples == [] and "has no DCGM_FI_DEV_GPU_UTIL or DCGM_FI_DEV_FB_USED series" in str(warning)
    samples, warning = prometheus.dcgm_usage(f"http://127.0.0.1:{free_port()}", "ns", "svc", now - 30, now, 1)
    assert samples == [] and "did not answer" in str(warning)
    body = prometheus.query_range(prom.url, "sum(", now - 30, now, 1)  # a real error answer
    with pytest.raises(prometheus.PrometheusError, match="error"):
        prometheus.parse_matrix(body)


def test_a_404_from_metrics_k8s_io_says_metrics_server_is_missing(bare):
    """The bare API server has no metrics-server behind it: the API answers 404, as a cluster without it."""
    with bare.api() as api:
        poller = UsagePoller(api, "default", "app=x", lambda: [], time.time(), 1.0)
        poller.poll()
    assert poller.unavailable is not None and poller.unavailable.startswith("metrics-server is missing")
    assert poller.rows() == []


def test_each_window_gets_its_pod_s_nearest_gpu_sample():
    row = dict.fromkeys(LOCAL_COLUMNS, 0) | {"namespace": "ns", "container": "c", "node": "n"}
    rows = [row | {"pod": "a", "t_s": 10.0}, row | {"pod": "a", "t_s": 20.0}, row | {"pod": "b", "t_s": 10.0}]
    samples = [
        prometheus.GpuSample("ns", "a", 1009.0, 40.0, 2100.0),
        prometheus.GpuSample("ns", "b", 1005.0, 70.0, None),
    ]
    table = usage_table(rows, samples, wall_at_t0=1000.0, tolerance_s=2.0, with_gpu=True)
    by = {(r.pod, r.t_s): r for r in table.itertuples()}
    assert by[("a", 10.0)].gpu_util_pct == 40.0 and by[("a", 10.0)].gpu_memory_used_mib == 2100.0
    assert pd.isna(by[("a", 20.0)].gpu_util_pct)  # 11 s from the sample: beyond one period
    assert pd.isna(by[("b", 10.0)].gpu_util_pct)  # 5 s away
    alone = usage_table([], samples, wall_at_t0=1000.0, tolerance_s=2.0, with_gpu=True)
    assert list(alone["t_s"]) == [5.0, 9.0] and alone["cpu_cores"].isna().all()


@pytest.mark.slow
def test_an_in_cluster_run_reads_pod_metrics_and_its_vpa_with_the_least_role(clusters, tmp_path):
    argv = [*KIBENCH, "cluster", "run", str(SMOKE), "--results", str(tmp_path / "results"), "--set",
            f"platform.kubeconfig={clusters.with_metrics}", "--set", "service.cold_start=0", "--set",
            "load.duration=6s", "--set", "platform.vpa=true", "--set", "platform.hpa.metric_resolution=2s"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_CONTEXT")}
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=150, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (folder,) = (tmp_path / "results").iterdir()
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["metrics"]["vpa_cpu_target_cores"] >= 0.025 and summary["metrics"]["cpu_recommended_cores"]
    assert pd.read_parquet(folder / "usage.parquet")["pod"].nunique() == 2
    namespace = proc.stdout.split(" as Job ", 1)[1].split("/", 1)[0]
    account = f"system:serviceaccount:{namespace}:{harness_job.NAME}"
    audit = httpx.get(f"{clusters.hello['api']}/kibench/v1/audit", verify=False,
                      headers={"Authorization": f"Bearer {clusters.hello['token']}"}).json()["requests"]  # fmt: skip
    mine = [r for r in audit if r["user"] == account]
    assert mine and all(r["allowed"] for r in mine), [r for r in mine if not r["allowed"]]
    objects = harness_job.render("", [], "ns", harness_job.service_objects(load_scenario(SMOKE, ["platform.vpa=true"])))
    rules = objects.get("Role")["rules"] + objects.get("ClusterRole")["rules"]
    granted = {(v, g, res) for r in rules for g in r["apiGroups"] for res in r["resources"] for v in r["verbs"]}
    assert {(r["verb"], r["group"], r["resource"]) for r in mine} == granted  # every rule used, nothing else asked
