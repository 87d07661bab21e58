"""platform.kind kubernetes without a running cluster: the scenario's fields, the run's names and labels, which
kubeconfig and context a run uses (and refuses), and the dry run's plan."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from harness.errors import ClusterRefused, ScenarioError
from harness.platform import create_platform
from harness.platform.kubernetes import scope
from harness.platform.kubernetes.kubeconfig import resolve
from harness.platform.local.apiserver.kubeconfig import write_kubeconfig
from harness.scenario import validate

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
BASE = {"name": "s", "load": {"rate_rps": 1, "duration": 1}}


@pytest.fixture
def kubeconfig(tmp_path):
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, "https://127.0.0.1:9", "token", context="kind-ci")
    return path


def platform(**fields):
    return validate({**BASE, "platform": fields}, "s.yaml").platform


def test_kind_local_stays_the_default_and_kubernetes_takes_its_fields():
    assert platform().kind == "local" and platform().namespace is None
    spec = platform(kind="kubernetes", context="kind-ci", namespace="team-a", kubeconfig="~/kc")
    assert (spec.kind, spec.context, spec.namespace, spec.kubeconfig) == ("kubernetes", "kind-ci", "team-a", "~/kc")
    assert validate({**BASE, "platform": "kubernetes"}, "s.yaml").platform.kind == "kubernetes"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"namespace": "team"}, "platform.namespace: only platform.kind kubernetes uses namespace; set platform.kind"),
        ({"kind": "kubernetes", "namespace": "Team_A"}, "platform.namespace: 'Team_A' is not a namespace name"),
        ({"kind": "kubernetes", "namespace": "a" * 64}, "platform.namespace:"),
        ({"kind": "kubernetes", "context": " "}, "platform.context: context is empty"),
        ({"kind": "kubernetes", "kubeconfg": "x"}, "did you mean 'kubeconfig'?"),
        ({"kind": "eks"}, "platform.kind: Input should be 'local' or 'kubernetes'"),
        ({"prometheus_url": "http://prom:9090"}, "platform.prometheus_url: only platform.kind kubernetes reads a"),
        ({"kind": "kubernetes", "prometheus_url": "prom:9090"}, "platform.prometheus_url: 'prom:9090' is not an"),
    ],
)
def test_bad_platform_fields_name_the_field_and_the_fix(fields, message):
    with pytest.raises(ScenarioError) as err:
        platform(**fields)
    assert message in str(err.value) and err.value.exit_code == 2


@pytest.mark.parametrize("name", ["smoke", "A_Very.Long-Scenario_Name" * 2 + "x" * 14, "x"])
def test_run_names_and_labels_are_valid_for_any_run_id(name):
    run_id = f"20261202-050102-{name[:64]}-a1b2"
    namespace, label = scope.run_namespace(run_id), scope.run_label(run_id)
    assert namespace.startswith("kibench-") and len(namespace) <= 63 and DNS_LABEL.match(namespace)
    assert len(label) <= 63 and LABEL_VALUE.match(label)
    assert namespace.endswith("-a1b2") and label.endswith("-a1b2")  # the random part survives shortening
    if len(run_id) <= 55:
        assert label == run_id and namespace == f"kibench-{run_id.lower()}"


def test_the_kubeconfig_comes_from_the_scenario_then_kubeconfig_env_then_home(kubeconfig, tmp_path, monkeypatch):
    assert resolve(str(kubeconfig), None).context == "kind-ci"
    monkeypatch.setenv("KUBECONFIG", f"{tmp_path / 'missing'}:{kubeconfig}")
    found = resolve(None, "kind-ci")
    assert (found.kubeconfig, found.source, found.server) == (str(kubeconfig), "$KUBECONFIG", "https://127.0.0.1:9")
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(ClusterRefused, match=r"no kubeconfig file at .*\.kube/config \(from ~/.kube/config\)"):
        resolve(None, None)


def test_a_context_the_kubeconfig_does_not_have_is_refused(kubeconfig):
    with pytest.raises(ClusterRefused) as err:
        resolve(str(kubeconfig), "prod-eu")
    assert "has no context 'prod-eu' (it has: kind-ci)" in str(err.value) and err.value.exit_code == 2


def test_a_refused_context_fails_before_the_run_makes_anything(kubeconfig, tmp_path):
    scenario = validate({**BASE, "platform": {"kind": "kubernetes", "kubeconfig": str(kubeconfig), "context": "x"}},
                        "s.yaml")  # fmt: skip
    with pytest.raises(ClusterRefused):
        create_platform(scenario, 0.0, str(tmp_path / "run" / "logs"), run_id="r")
    assert not (tmp_path / "run").exists()


def test_dry_run_prints_the_plan_and_manifests_without_a_cluster(kubeconfig, tmp_path, kibench):
    path = tmp_path / "s.yaml"
    path.write_text("name: smoke\nservice: {replicas: 2}\nload: {rate_rps: 5, duration: 10s}\n")
    sets = ["--set", "platform.kind=kubernetes", "--set", f"platform.kubeconfig={kubeconfig}"]
    proc = subprocess.run([*kibench, "run", str(path), "--dry-run", *sets], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "# cluster: context 'kind-ci' (https://127.0.0.1:9)" in out
    namespace = re.search(r"# namespace: (kibench-[a-z0-9-]+), the run's own", out)[1]
    assert "cluster not checked (it did not answer" in out  # nothing listens there: the plan says so
    docs = [d for d in yaml.safe_load_all(out) if d]  # the plan lines are comments: stdout is one YAML stream
    kinds = [d["kind"] for d in docs]
    assert kinds == ["Namespace", "Secret", "Deployment", "Service"]
    for doc in docs:
        assert doc["metadata"]["labels"][scope.RUN_LABEL] and doc["metadata"]["labels"][scope.MANAGED_LABEL]
        assert doc["metadata"].get("namespace", namespace) == namespace
    dep = docs[2]
    assert dep["spec"]["template"]["metadata"]["labels"][scope.RUN_LABEL] == dep["metadata"]["labels"][scope.RUN_LABEL]
    assert "token" not in str(docs[1].get("data"))  # the admin token is made by each run, never printed
    assert not (tmp_path / "results").exists()


def test_dry_run_refuses_a_context_the_kubeconfig_does_not_have(kubeconfig, tmp_path, kibench):
    path = tmp_path / "s.yaml"
    path.write_text("name: smoke\nload: {rate_rps: 5, duration: 10s}\n")
    sets = ["--set", "platform.kind=kubernetes", "--set", f"platform.kubeconfig={kubeconfig}",
            "--set", "platform.context=prod"]  # fmt: skip
    proc = subprocess.run([*kibench, "run", str(path), "--dry-run", *sets], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "has no context 'prod'" in proc.stderr
