"""End to end: ``kibench run --set platform.kind=kubernetes`` against an embedded cluster started on its own, through
its kubeconfig, exactly as against yours: a run passes and leaves nothing behind, another's Deployment is refused
and left untouched, a wrong context is refused, SIGINT while deploying or under load cleans up, ``--keep`` keeps,
``--dry-run`` touches nothing.

One cluster serves the whole module; runs are shortened (10 s of load for the full run, less elsewhere).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config

from harness.platform.kubernetes import scope
from harness.platform.local.client import start_daemon
from harness.platform.local.spec import ClusterSpec
from harness.procs import poll_until, stop

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
KIBENCH = [sys.executable, "-c", "from harness.cli import main; main()"]
MANAGED = f"{scope.MANAGED_LABEL}={scope.MANAGER}"


@dataclass
class Cluster:
    kubeconfig: Path
    proc: subprocess.Popen[str]

    def api(self) -> client.ApiClient:
        return config.new_client_from_config(config_file=str(self.kubeconfig))

    def namespaces(self, selector: str | None = None) -> list[str]:
        with self.api() as api:
            return [n.metadata.name for n in client.CoreV1Api(api).list_namespace(label_selector=selector).items]

    def kibench_namespaces(self) -> list[str]:
        return self.namespaces(MANAGED)

    def resource_version(self) -> str:
        """The store-wide resourceVersion once it has stopped moving (any write moves it)."""
        last = ""
        for _ in range(40):
            with self.api() as api:
                now = str(client.CoreV1Api(api).list_namespace().metadata.resource_version)
            if now == last:
                return now
            last = now
            time.sleep(0.5)
        return last

    @staticmethod
    def wait_for(predicate: Callable[[], object], what: str, timeout_s: float = 60.0) -> None:
        assert poll_until(predicate, timeout_s, 0.25), f"timed out waiting for {what}"

    def run(self, tmp: Path, *args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(tmp, *args), capture_output=True, text=True, timeout=timeout, env=self.env())

    def argv(self, tmp: Path, *args: str) -> list[str]:
        sets = ["--set", "platform.kind=kubernetes", "--set", f"platform.kubeconfig={self.kubeconfig}"]
        return [*KIBENCH, "run", str(SMOKE), "--results", str(tmp / "results"), *sets, *args]

    @staticmethod
    def env() -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_CONTEXT")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """An empty embedded cluster, started as `python -m harness.platform.local --kubeconfig FILE` is."""
    folder = tmp_path_factory.mktemp("cluster")
    kubeconfig = folder / "kubeconfig"
    proc, _ = start_daemon(ClusterSpec(), str(folder / "logs"), str(kubeconfig))
    try:
        yield Cluster(kubeconfig, proc)
    finally:
        stop(proc, grace_s=10)


def output(proc: subprocess.CompletedProcess[str] | subprocess.Popen[str], out: str = "") -> str:
    return f"exit {proc.returncode}\n{out or getattr(proc, 'stdout', '')}\n{getattr(proc, 'stderr', '') or ''}"


def test_a_run_on_the_cluster_passes_and_leaves_nothing_behind(cluster, tmp_path):
    proc = cluster.run(tmp_path, "--set", "load.duration=10s")
    assert proc.returncode == 0, output(proc)
    assert "namespace kibench-" in proc.stdout and "on context kibench-local" in proc.stdout
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "pass" and summary["metrics"]["requests"] >= 190
    deployed = next(json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()
                    if json.loads(line)["kind"] == "deployed")  # fmt: skip
    assert deployed["platform"] == "kubernetes" and deployed["namespace"] == scope.run_namespace(run_dir.name)
    assert cluster.kibench_namespaces() == []  # the run's namespace, and everything in it, is gone
    with cluster.api() as api:
        assert client.CoreV1Api(api).list_pod_for_all_namespaces().items == []


def test_a_deployment_of_another_in_the_named_namespace_is_refused_and_untouched(cluster, tmp_path):
    foreign = {
        "metadata": {"name": "smoke-svc", "labels": {"owner": "alice"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "alice"}},
            "template": {"metadata": {"labels": {"app": "alice"}},
                         "spec": {"containers": [{"name": "c", "image": "kibench-service:0.1.0"}]}},
        },
    }  # fmt: skip
    with cluster.api() as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "team"}})
        client.AppsV1Api(api).create_namespaced_deployment("team", foreign)
    cluster.resource_version()  # the deployment controller has written its status
    with cluster.api() as api:
        before = client.AppsV1Api(api).read_namespaced_deployment("smoke-svc", "team")
    try:
        proc = cluster.run(tmp_path, "--set", "platform.namespace=team", timeout=60)
        assert proc.returncode == 2, output(proc)
        assert "refused to create Deployment team/smoke-svc" in proc.stderr
        assert "it does not carry this run's label" in proc.stderr
        dry = cluster.run(tmp_path, "--set", "platform.namespace=team", "--dry-run", timeout=60)
        assert dry.returncode == 2 and "a run would refuse" in dry.stderr, output(dry)
        with cluster.api() as api:
            after = client.AppsV1Api(api).read_namespaced_deployment("smoke-svc", "team")
            assert after.metadata.resource_version == before.metadata.resource_version
            core = client.CoreV1Api(api)
            assert core.list_namespaced_secret("team").items == [] and core.list_namespaced_service("team").items == []
    finally:
        with cluster.api() as api:
            client.CoreV1Api(api).delete_namespace("team")
        cluster.wait_for(lambda: "team" not in cluster.namespaces(), "namespace team to go")


def test_a_context_the_kubeconfig_does_not_have_is_refused(cluster, tmp_path):
    proc = cluster.run(tmp_path, "--set", "platform.context=prod", timeout=60)
    assert proc.returncode == 2, output(proc)
    assert "has no context 'prod' (it has: kibench-local)" in proc.stderr
    assert not (tmp_path / "results").exists()


def test_dry_run_prints_the_plan_and_touches_nothing(cluster, tmp_path):
    before = cluster.resource_version()
    proc = cluster.run(tmp_path, "--dry-run", timeout=60)
    assert proc.returncode == 0, output(proc)
    assert "# cluster: context 'kibench-local'" in proc.stdout and "kind: Deployment" in proc.stdout
    assert "cluster checked (read only)" in proc.stdout
    assert cluster.resource_version() == before and not (tmp_path / "results").exists()


def test_sigint_mid_run_deletes_the_run_s_namespace(cluster, tmp_path):
    proc = subprocess.Popen(cluster.argv(tmp_path, "--set", "load.duration=60s"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=cluster.env())  # fmt: skip
    poll_until(lambda: list((tmp_path / "results").glob("*/requests.parquet/*.parquet")), 60.0, 0.2)
    assert cluster.kibench_namespaces(), "the run never made its namespace"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 130, output(proc, out)
    assert cluster.kibench_namespaces() == []


def test_sigint_while_deploying_deletes_the_run_s_namespace(cluster, tmp_path):
    proc = subprocess.Popen(cluster.argv(tmp_path, "--set", "load.duration=60s"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=cluster.env())  # fmt: skip
    cluster.wait_for(cluster.kibench_namespaces, "the run's namespace", timeout_s=30)  # made first: deploy is on
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 130, output(proc, out)
    assert "load:" not in out  # interrupted before the load started
    assert cluster.kibench_namespaces() == []


def test_keep_leaves_the_run_s_namespace_and_says_how_to_delete_it(cluster, tmp_path):
    proc = cluster.run(tmp_path, "--keep", "--set", "load.duration=2s", "--no-default-slos")
    assert proc.returncode in (0, 1), output(proc)
    (run_dir,) = (tmp_path / "results").iterdir()
    namespace = scope.run_namespace(run_dir.name)
    command = f"kubectl --kubeconfig {cluster.kubeconfig} --context kibench-local delete namespace {namespace}"
    assert f"kept after the run (--keep): delete it with {command}" in proc.stdout.replace("\n", "")
    assert cluster.kibench_namespaces() == [namespace]
    with cluster.api() as api:
        core = client.CoreV1Api(api)
        pods = core.list_namespaced_pod(namespace, label_selector=scope.selector(scope.run_label(run_dir.name))).items
        assert len(pods) == 2
        core.delete_namespace(namespace)
    cluster.wait_for(lambda: not cluster.kibench_namespaces(), "the kept namespace to go")
