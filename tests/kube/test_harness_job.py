"""``kibench cluster run``'s objects without a cluster: the least Role for a scenario (and what each kind of fault
adds to it: nothing without faults), ``deploy/harness`` agreeing with the CLI's objects (the files as generated,
and ``kubectl kustomize`` rendering them), the run folder's trip through a pod's log, and which ``--set``
overrides travel to the pod."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from harness.chaos import fault_access, plan_faults
from harness.cli import app
from harness.errors import PlatformError, ScenarioError
from harness.platform.kubernetes import harness_job, harness_kustomize, runcopy
from harness.platform.kubernetes.submit import pod_sets
from harness.scenario import load_scenario
from tests.deploy.test_kustomize import check

ROOT = Path(__file__).resolve().parents[2]
KIBENCH = [sys.executable, "-c", "from harness.cli import main; main()"]
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


def with_faults(name: str, experiments: list[str] | None = None) -> tuple[harness_job.HarnessObjects, ...]:
    """The objects of ``scenarios/<name>`` without and with its faults (or ``experiments`` instead)."""
    sets = [f"faults[{i}].experiment={e}" for i, e in enumerate(experiments or [])]
    scenario = load_scenario(ROOT / "scenarios" / name, sets)
    access = fault_access(plan_faults(scenario.faults, name, ROOT), name)
    kinds = harness_job.service_objects(scenario)
    plain = harness_job.render("", [], "ns", kinds)
    rules = harness_job.FaultRules(access.namespaced, access.cluster)
    return plain, harness_job.render("", [], "ns", kinds, faults=rules)


def added(plain: harness_job.HarnessObjects, faulty: harness_job.HarnessObjects, kind: str) -> list[dict]:
    return [r for r in faulty.get(kind)["rules"] if r not in plain.get(kind)["rules"]]


@pytest.mark.parametrize(
    ("scenario", "experiments", "role", "cluster_role"),
    [
        ("pod-kill-under-load.yaml", None, [("pods", ["delete"])], []),
        ("rolling-update.yaml", None, [("deployments", ["patch"])], []),
        ("hung-replica.yaml", None, [("pods", ["get"])], []),
        ("pod-kill-under-load.yaml", ["chaos/latency-spike.yaml"], [], []),  # pods list, the admin Secret: granted
        ("pod-kill-under-load.yaml", ["chaos/error-burst.yaml"], [], []),
        ("node-drain.yaml", None, [], [("nodes", ["patch"]), ("pods", ["get", "list"]), ("pods/eviction", ["create"])]),
    ],
)
def test_each_fault_adds_exactly_the_verbs_its_activities_send(scenario, experiments, role, cluster_role):
    plain, faulty = with_faults(scenario, experiments)
    assert [(r["resources"][0], r["verbs"]) for r in added(plain, faulty, "Role")] == role
    assert [(r["resources"][0], r["verbs"]) for r in added(plain, faulty, "ClusterRole")] == cluster_role
    assert plain.get("Role")["rules"] == faulty.get("Role")["rules"][: len(plain.get("Role")["rules"])]  # kept
    env = faulty.get("Job")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "CHAOSTOOLKIT_IN_POD", "value": "true"} in env  # chaostoolkit's in-pod mode
    assert "CHAOSTOOLKIT_IN_POD" not in str(plain.get("Job"))
    for obj in faulty.objects:
        check(obj, f"kibench cluster run {scenario}")


def test_a_scenario_without_faults_gets_todays_role_and_unknown_activities_are_refused(tmp_path):
    smoke = load_scenario(ROOT / "scenarios" / "smoke.yaml", [])
    assert smoke.faults == [] and fault_access(plan_faults([], "smoke"), "smoke").namespaced == []
    kinds = harness_job.service_objects(smoke)
    assert harness_job.render("", [], "ns", kinds).get("Role")["rules"] == harness_job.role_rules(
        set(kinds), kinds.get("Secret")
    )
    assert harness_job.cluster_rules() == harness_job.CLUSTER_RULES
    odd = yaml.safe_load((ROOT / "chaos" / "pod-kill.yaml").read_text())
    odd["method"][0]["provider"].update(module="chaosk8s.pod.actions", func="exec_in_pods", arguments={"cmd": "x"})
    (tmp_path / "exec.yaml").write_text(yaml.safe_dump(odd))
    scenario = load_scenario(ROOT / "scenarios" / "pod-kill-under-load.yaml",
                             [f"faults[0].experiment={tmp_path / 'exec.yaml'}"])  # fmt: skip
    with pytest.raises(ScenarioError, match=r"does not know which permissions chaosk8s.pod.actions.exec_in_pods"):
        fault_access(plan_faults(scenario.faults, "s"), "s")


def test_cluster_run_refuses_hard_node_loss_before_touching_the_cluster(tmp_path):
    sets = ["--set", f"platform.kubeconfig={tmp_path / 'none'}"]
    argv = [*KIBENCH, "cluster", "run", str(ROOT / "scenarios/node-failure.yaml"), *sets, "--dry-run"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 2, done.stdout + done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "hard node loss" in said and "kibench cluster run always runs on a cluster" in said


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
