"""``kibench cluster run``'s objects without a cluster: the least Role for a scenario, ``deploy/harness`` agreeing
with the CLI's objects (the files as generated, and ``kubectl kustomize`` rendering them), the run folder's trip
through a pod's log, and which ``--set`` overrides travel to the pod."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.errors import PlatformError
from harness.platform.kubernetes import harness_job, harness_kustomize, runcopy
from harness.platform.kubernetes.submit import pod_sets
from harness.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "harness"


def verbs(rules, resource):
    return sorted(v for r in rules if resource in r["resources"] for v in r["verbs"])


def test_the_role_grants_what_the_scenarios_service_needs_and_nothing_more():
    def role(name: str) -> list[dict]:
        objects = harness_job.service_objects(load_scenario(ROOT / "scenarios" / name, []))
        return harness_job.render("", [], "ns", objects).get("Role")["rules"]

    smoke, spike = role("smoke.yaml"), role("spike.yaml")
    assert verbs(smoke, "horizontalpodautoscalers") == ["list", "watch"]  # followed, never written
    assert verbs(spike, "horizontalpodautoscalers") == ["create", "delete", "get", "list", "watch"]
    assert verbs(smoke, "poddisruptionbudgets") == []
    every = {v for r in smoke + spike for v in r["verbs"]}
    assert every <= {"get", "list", "watch", "create", "delete"}  # no update, patch, escalate, bind, impersonate
    assert not any(r for r in smoke if "pods/exec" in r["resources"] or "*" in r["resources"] + r["verbs"])
    reads = [r for r in smoke if "secrets" in r["resources"] and "get" in r["verbs"]]
    assert [r.get("resourceNames") for r in reads] == [["smoke-svc-admin"]]  # no other secret is readable


def test_deploy_harness_is_what_the_generator_writes():
    for name, text in harness_kustomize.files().items():
        assert (DEPLOY / name).read_text(encoding="utf-8") == text, f"deploy/harness/{name}: regenerate it"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_kustomize_renders_the_objects_kibench_cluster_run_creates():
    out = subprocess.run(["kubectl", "kustomize", str(DEPLOY)], capture_output=True, text=True, timeout=60, check=True)
    rendered = {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(out.stdout)}
    scenario_text = (DEPLOY / "scenario.yaml").read_text(encoding="utf-8")
    expected = {(o["kind"], o["metadata"]["name"]): o for o in harness_kustomize.objects(scenario_text)}
    assert rendered.keys() == expected.keys()
    for key, obj in expected.items():
        assert rendered[key] == obj, key
    assert load_scenario(DEPLOY / "scenario.yaml", []).faults == []


def test_a_run_folder_travels_through_a_log_and_a_damaged_one_is_refused(tmp_path):
    folder = tmp_path / "pod" / "20261202-smoke-abcd"
    (folder / "requests.parquet").mkdir(parents=True)
    (folder / "summary.json").write_text('{"verdict": "pass"}')
    (folder / "requests.parquet" / "w0-00000.parquet").write_bytes(bytes(range(256)) * 100)
    log = ["progress line 1", *runcopy.block(folder), "after"]
    reader = runcopy.Reader()
    shown = [line for line in log if reader.feed(line)]
    assert shown == ["progress line 1", "after"]
    out = reader.extract(tmp_path / "results")
    assert (out / "summary.json").read_text() == '{"verdict": "pass"}'
    assert (out / "requests.parquet" / "w0-00000.parquet").read_bytes() == bytes(range(256)) * 100
    unpacked = CliRunner().invoke(app, ["cluster", "unpack", "--results", str(tmp_path / "r2")], input="\n".join(log))
    assert unpacked.exit_code == 0 and (tmp_path / "r2" / folder.name / "summary.json").is_file(), unpacked.output
    cut = runcopy.Reader()
    for line in log[:-3]:  # the end marker never came
        cut.feed(line)
    with pytest.raises(PlatformError, match="does not hold the whole run folder"):
        cut.extract(tmp_path / "cut")
    bad, damaged = runcopy.Reader(), list(log)
    damaged[3] = ("B" if damaged[3][0] != "B" else "C") + damaged[3][1:]  # one character of the data changed
    for line in damaged:
        bad.feed(line)
    with pytest.raises(PlatformError, match="damaged"):
        bad.extract(tmp_path / "bad")


def test_only_the_overrides_about_the_scenario_travel_to_the_pod():
    sets = ["platform.kubeconfig=/k", "platform.context=kind", "load.duration=5s", "platform.namespace=x",
            "platform.pod.gpus=0", "platform.kind=kubernetes"]  # fmt: skip
    assert pod_sets(sets) == ["load.duration=5s", "platform.pod.gpus=0"]
    job = harness_job.render("name: x\n", pod_sets(sets), "ns", {"Deployment": "x-svc"}).get("Job")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][-4:] == ["--set", "load.duration=5s", "--set", "platform.pod.gpus=0"]
    assert job["spec"]["backoffLimit"] == 0 and job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_dry_run_prints_the_manifests_reads_the_cluster_and_changes_nothing(bare, tmp_path):
    from typer.testing import CliRunner

    from harness.cli import app

    before = bare.resource_version()
    sets = ["--set", f"platform.kubeconfig={bare.kubeconfig}"]
    result = CliRunner().invoke(app, ["cluster", "run", str(ROOT / "scenarios/smoke.yaml"), *sets, "--dry-run"])
    assert result.exit_code == 0, result.output
    plan, _, manifests = result.output.partition("\n---\n")
    assert "cluster checked (read only)" in plan and "create Job kibench-" in plan
    kinds = [o["kind"] for o in yaml.safe_load_all(manifests)]
    assert kinds == ["Namespace", "ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding",
                     "ConfigMap", "Job"]  # fmt: skip
    assert bare.resource_version() == before
