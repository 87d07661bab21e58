"""End to end: ``kibench cluster run scenarios/smoke.yaml`` against an embedded cluster started on its own, through
its kubeconfig: the Job's pod runs the harness image (a local ``kibench`` process on the embedded runtime) on its
service account, its progress reaches the terminal, its run folder comes back and is reportable, its exit code
passes through (0, and 1 for an SLO that cannot hold), SIGINT stops the run in the cluster and still brings its
folder back (130), the Role is the least that works (the cluster's audit: every request of the service account
allowed, every permission granted used), and nothing of any run is left.  The three runs go at once.  And
``scenarios/pod-kill-under-load.yaml`` (shortened): its fault runs in the pod (chaosk8s on the service account),
comes back in the run folder, and uses the one verb it adds to the Role.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from kubernetes import client, config

from harness.platform.kubernetes import harness_job, scope
from harness.platform.local.client import start_daemon
from harness.platform.local.spec import ClusterSpec
from harness.procs import stop
from harness.scenario import load_scenario

pytestmark = [pytest.mark.slow, pytest.mark.exclusive]  # a whole run inside a pod of a cluster

ROOT = Path(__file__).resolve().parents[2]
SMOKE = ROOT / "scenarios" / "smoke.yaml"
KIBENCH = [sys.executable, "-c", "from harness.cli import main; main()"]
MANAGED = f"{scope.MANAGED_LABEL}={scope.MANAGER}"


def granted(rules: list[dict]) -> set[tuple[str, str, str]]:
    return {(verb, group, resource) for r in rules for group in r["apiGroups"] for resource in r["resources"]
            for verb in r["verbs"]}  # fmt: skip


def test_cluster_run_passes_exit_codes_through_brings_results_back_and_leaves_nothing(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    daemon, hello = start_daemon(ClusterSpec(), str(tmp_path / "logs"), str(kubeconfig))
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_CONTEXT")}
    try:

        def start(name: str, *sets: str) -> subprocess.Popen[str]:
            argv = [*KIBENCH, "cluster", "run", str(SMOKE), "--results", str(tmp_path / name), "--set",
                    f"platform.kubeconfig={kubeconfig}", "--set", "service.cold_start=0", *sets]  # fmt: skip
            return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)

        passing = start("pass", "--set", "load.duration=3s")
        failing = start("fail", "--set", "load.duration=3s", "--set", 'slos.latency_ms=["p(95) < 1"]')
        stopped = start("stop", "--set", "load.duration=30s")
        seen = []
        for line in stopped.stdout:  # type: ignore[union-attr]
            seen.append(line)
            if line.startswith("load: "):  # the in-pod run's progress reaches this terminal; now interrupt it
                stopped.send_signal(signal.SIGINT)
                break
        outputs = {name: p.communicate(timeout=240)[0] for name, p in (("pass", passing), ("fail", failing),
                                                                        ("stop", stopped))}  # fmt: skip
        outputs["stop"] = "".join(seen) + outputs["stop"]
        codes = {"pass": passing.returncode, "fail": failing.returncode, "stop": stopped.returncode}
        assert codes == {"pass": 0, "fail": 1, "stop": 130}, json.dumps(outputs, indent=1)
        folders = {}
        for name in ("pass", "fail", "stop"):
            (folders[name],) = (tmp_path / name).iterdir()
            assert f"run folder (copied back): {folders[name]}" in outputs[name]
        report = subprocess.run([*KIBENCH, "report", str(folders["fail"])], capture_output=True, text=True, timeout=120)
        assert report.returncode == 1 and "verdict: fail (exit 1)" in report.stdout, report.stdout + report.stderr
        assert "verdict: pass (exit 0)" in outputs["pass"] and "FAIL  latency_ms p(95) < 1" in outputs["fail"]
        assert json.loads((folders["pass"] / "summary.json").read_text())["metrics"]["requests"] >= 50
        assert not json.loads((folders["stop"] / "run.json").read_text())["complete"]  # interrupted, kept

        harness_pods = [p for p in (tmp_path / "logs").iterdir() if p.name.startswith(f"{harness_job.NAME}-")]
        assert len(harness_pods) == 3  # one pod a run: the interrupted one was not retried (backoffLimit 0)
        with config.new_client_from_config(config_file=str(kubeconfig)) as api:
            core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
            assert core.list_namespace(label_selector=MANAGED).items == []
            assert core.list_pod_for_all_namespaces().items == []
            assert rbac.list_cluster_role(label_selector=MANAGED).items == []
            assert rbac.list_cluster_role_binding(label_selector=MANAGED).items == []

        audit = httpx.get(f"{hello['api']}/kibench/v1/audit", headers={"Authorization": f"Bearer {hello['token']}"},
                          verify=False).json()["requests"]  # fmt: skip
        objects = harness_job.render("", [], "ns", harness_job.service_objects(load_scenario(SMOKE, [])))
        rules = granted(objects.get("Role")["rules"] + objects.get("ClusterRole")["rules"])
        namespaces = {r["namespace"] for r in audit if r["namespace"]}
        assert len({r["user"] for r in audit}) == 3 and len(namespaces) == 3  # one service account per run
        assert all(r["allowed"] for r in audit), [r for r in audit if not r["allowed"]]
        account = f"system:serviceaccount:{run_namespace(outputs['pass'])}:{harness_job.NAME}"
        used = {(r["verb"], r["group"], r["resource"]) for r in audit if r["user"] == account}
        assert used == rules  # every permission was needed, and nothing else was asked
    finally:
        stop(daemon, grace_s=10)


def run_namespace(output: str) -> str:
    """The run's namespace, from ``kibench cluster run: 'smoke' as Job <namespace>/kibench-harness ...``."""
    line = next(line for line in output.splitlines() if line.startswith("kibench cluster run:"))
    return line.split(" as Job ", 1)[1].split("/", 1)[0]


POD_KILL = ROOT / "scenarios" / "pod-kill-under-load.yaml"


def test_cluster_run_runs_the_scenarios_faults_in_the_pod_with_exactly_the_verbs_they_need(tmp_path):
    """``kibench cluster run scenarios/pod-kill-under-load.yaml`` (shortened): chaosk8s kills a replica from inside
    the Job's pod on its service account; the fault, its recovery metrics and its journal come back; the Role's
    one added verb (pods delete) is used, and nothing the Role does not grant is asked."""
    kubeconfig = tmp_path / "kubeconfig"
    daemon, hello = start_daemon(ClusterSpec(), str(tmp_path / "logs"), str(kubeconfig))
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_CONTEXT")}
    try:
        sets = [f"platform.kubeconfig={kubeconfig}", "load.duration=12s", "faults[0].at=3s", "service.cold_start=0"]
        argv = [*KIBENCH, "cluster", "run", str(POD_KILL), "--results", str(tmp_path / "results")]
        done = subprocess.run([*argv, *(a for s in sets for a in ("--set", s))], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=240)  # fmt: skip
        output = done.stdout + done.stderr
        assert done.returncode in (0, 1), output  # the run's verdict, passed through (4: the host was saturated)
        assert f"exit {done.returncode} (the in-cluster run's)" in output
        (folder,) = (tmp_path / "results").iterdir()
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["verdict"] == ("pass" if done.returncode == 0 else "fail"), summary["verdict_reason"]
        (fault,) = summary["faults"]
        assert fault["name"] == "pod-kill" and fault["status"] == "completed" and fault["injected"], fault
        assert len(fault["targets"]) == 1 and fault["time_to_capacity_s"] is not None and "failed_requests" in fault
        journal = json.loads((folder / "chaos" / "pod-kill.journal.json").read_text())
        (kill,) = [r for r in journal["run"] if r["activity"]["name"] == "terminate-pod"]
        assert kill["status"] == "succeeded" and kill["output"] == fault["targets"], kill

        audit = httpx.get(f"{hello['api']}/kibench/v1/audit", headers={"Authorization": f"Bearer {hello['token']}"},
                          verify=False).json()["requests"]  # fmt: skip
        assert all(r["allowed"] for r in audit), [r for r in audit if not r["allowed"]]  # nothing else was asked
        scenario = load_scenario(POD_KILL, [])
        plain = harness_job.render("", [], "ns", harness_job.service_objects(scenario))
        account = f"system:serviceaccount:{run_namespace(output)}:{harness_job.NAME}"
        used = {(r["verb"], r["group"], r["resource"]) for r in audit if r["user"] == account}
        base = granted(plain.get("Role")["rules"] + plain.get("ClusterRole")["rules"])
        assert used - base == {("delete", "", "pods")}  # the fault's one added verb, used (by chaosk8s in the pod)
    finally:
        stop(daemon, grace_s=10)
