"""``load.placement: cluster``: Locust workers as a Deployment of the harness image, talking to the master in
``kibench cluster run``'s Job pod through a Service.

Without a cluster: the objects (Service before Deployment before Job, the Job's container listening on its pod IP,
workers without API access, the Role unchanged) validate strictly, ``--dry-run`` lists them, and the placement is
refused where no Job pod holds the master.  End to end (slow): a short load with two in-cluster workers against an
embedded cluster started on its own: the run folder holds both workers' rows and files at the paths a local
distributed run has them, on one time axis, and nothing of the run is left afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.dataset as ds
import pytest
import yaml
from kubernetes import client, config
from typer.testing import CliRunner

from harness import deployspec
from harness.cli import app
from harness.errors import InputError, ScenarioError
from harness.load.config import master_host
from harness.platform.kubernetes import harness_job, scope
from harness.platform.local import servicelinks
from harness.platform.local.client import start_daemon
from harness.platform.local.spec import ClusterSpec
from harness.procs import stop
from harness.scenario import load_scenario
from tests.deploy.test_kustomize import check

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
KIBENCH = [sys.executable, "-c", "from harness.cli import main; main()"]
CLUSTER = ["load.workers=2", "load.placement=cluster"]


def rendered(workers: int = 2) -> harness_job.HarnessObjects:
    scenario = load_scenario(SMOKE, ["platform.kind=kubernetes", *CLUSTER])
    return harness_job.render("", [], "ns", harness_job.service_objects(scenario), load_workers=workers)


def test_the_workers_objects_come_before_the_job_validate_and_need_no_permission():
    objects = rendered()
    assert [o["kind"] for o in objects.objects][-3:] == ["Service", "Deployment", "Job"]  # links need the Service
    service, deployment, job = objects.objects[-3:]
    for obj in (service, deployment, job):
        check(obj, "load.placement: cluster")
    master = job["spec"]["template"]["spec"]["containers"][0]
    assert master["ports"][0]["containerPort"] == service["spec"]["ports"][0]["targetPort"] == 5557
    assert {"name": deployspec.POD_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}} in master["env"]
    assert service["spec"]["selector"] == job["spec"]["template"]["metadata"]["labels"]  # the Job's pod only
    pod = deployment["spec"]["template"]
    assert deployment["spec"]["replicas"] == 2 and pod["spec"]["automountServiceAccountToken"] is False
    assert pod["metadata"]["labels"] != job["spec"]["template"]["metadata"]["labels"]  # workers are not the master
    assert pod["spec"]["containers"][0]["image"] == master["image"] == harness_job.HARNESS_IMAGE
    assert objects.get("Role") == rendered(workers=0).get("Role")  # the in-pod run creates nothing more


def test_dry_run_lists_the_workers(bare):
    sets = ["--set", f"platform.kubeconfig={bare.kubeconfig}", *[a for s in CLUSTER for a in ("--set", s)]]
    result = CliRunner().invoke(app, ["cluster", "run", str(SMOKE), *sets, "--dry-run"])
    assert result.exit_code == 0, result.output
    plan, _, manifests = result.output.partition("\n---\n")
    assert "load: 2 Locust workers (Deployment kibench-load-worker)" in plan
    kinds = [o["kind"] for o in yaml.safe_load_all(manifests)]
    assert kinds[-3:] == ["Service", "Deployment", "Job"]


def test_the_placement_is_refused_where_no_job_pod_holds_the_master(monkeypatch):
    with pytest.raises(ScenarioError, match="run it with kibench cluster run"):
        load_scenario(SMOKE, CLUSTER)  # platform local
    scenario = load_scenario(SMOKE, ["platform.kind=kubernetes", *CLUSTER])
    monkeypatch.delenv(deployspec.POD_IP_ENV, raising=False)
    with pytest.raises(InputError, match="needs the Locust master in the Job's pod") as info:
        master_host(scenario.load)  # kibench run on a cluster: the workers could not reach this machine
    assert info.value.exit_code == 2
    monkeypatch.setenv(deployspec.POD_IP_ENV, "10.1.2.3")
    assert master_host(scenario.load) == "10.1.2.3"
    with pytest.raises(ScenarioError, match="holds no locustfile"):
        load_scenario(ROOT / "scenarios" / "smoke.yaml", ["platform.kind=kubernetes", *CLUSTER, "load.model=closed",
                      "load.users=2", "load.rate_rps=null", f"load.locustfile={__file__}"])  # fmt: skip


def test_service_links_name_each_published_service():
    ingress = [{"ip": "127.0.0.1", "ports": [{"port": 40111}]}]
    published = {"metadata": {"name": "kibench-load-master"}, "status": {"loadBalancer": {"ingress": ingress}}}
    pending = {"metadata": {"name": "new-svc"}, "status": {"loadBalancer": {}}}
    assert servicelinks.environment([published, pending]) == {
        "KIBENCH_LOAD_MASTER_SERVICE_HOST": "127.0.0.1", "KIBENCH_LOAD_MASTER_SERVICE_PORT": "40111"}  # fmt: skip
    assert servicelinks.unpublished([published, pending]) and not servicelinks.unpublished([published])


@pytest.mark.slow
@pytest.mark.exclusive  # a run inside a pod of a cluster, its workers in two more
def test_two_workers_in_the_cluster_record_the_run_and_nothing_is_left(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    daemon, _ = start_daemon(ClusterSpec(), str(tmp_path / "logs"), str(kubeconfig))
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_CONTEXT")}
    try:
        argv = [*KIBENCH, "cluster", "run", str(SMOKE), "--results", str(tmp_path / "results"), "--set",
                f"platform.kubeconfig={kubeconfig}", "--set", "service.cold_start=0", "--set", "load.duration=3s",
                *[a for s in CLUSTER for a in ("--set", s)]]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=180, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
        (folder,) = (tmp_path / "results").iterdir()

        # the layout of a local distributed run: each worker's parts, stats, config and log
        names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
        for i in (0, 1):
            assert {f"requests.parquet/w{i}-00000.parquet", f"load-w{i}.json", f"logs/loadconfig-w{i}.json",
                    f"logs/load-w{i}.log"} <= names  # fmt: skip
        assert not [n for n in names if n.endswith(".partial")]
        rows = ds.dataset(folder / "requests.parquet").to_table().to_pandas()
        by_worker = rows.groupby("worker")["t_intended_s"]
        assert by_worker.count().to_dict() == {"w0": 30, "w1": 30}  # 20 rps for 3 s, split exactly
        assert rows["ok"].all()
        # the one schedule split between them: arrivals i, i+2, ... each, interleaving every 50 ms from load_start
        events = [json.loads(line) for line in (folder / "events.jsonl").read_text().splitlines()]
        start = next(e for e in events if e["kind"] == "load_start")
        assert start["workers"] == 2 and 0 <= start["clock_error_bound_ms"] < 1000
        intended = sorted(rows["t_intended_s"])
        assert intended[0] >= start["t_s"] and intended[-1] <= start["t_s"] + 3.0
        gaps = [b - a for a, b in zip(intended, intended[1:], strict=False)]
        assert max(gaps) - min(gaps) < 0.005
        sent = rows["t_sent_s"] - rows["t_intended_s"]  # each worker sent on time by its own (handshaken) clock
        assert sent.min() >= -1e-6 and sent.max() < 0.5
        assert json.loads((folder / "load-w1.json").read_text())["recorded"] == 30
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["metrics"]["requests"] == 60

        with config.new_client_from_config(config_file=str(kubeconfig)) as api:
            core = client.CoreV1Api(api)
            managed = f"{scope.MANAGED_LABEL}={scope.MANAGER}"
            assert core.list_namespace(label_selector=managed).items == []
            assert core.list_pod_for_all_namespaces().items == []
            assert client.AppsV1Api(api).list_deployment_for_all_namespaces().items == []
            assert core.list_service_for_all_namespaces().items == []
    finally:
        stop(daemon, grace_s=10)
