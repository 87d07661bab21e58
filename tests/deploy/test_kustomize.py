"""deploy/: every folder with a kustomization.yaml renders with `kubectl kustomize`; every object it renders and
every manifest kibench's driver renders (for the shipped scenarios) is valid, strictly (no unknown field), for the
oldest Kubernetes minor still supported upstream and the newest kubernetes-validate knows; and the base and
overlays agree with the driver's manifests of the equivalent scenario on everything that matters."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions

from harness.platform.kubernetes import manifests
from harness.scenario import load_scenario, validate

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
FOLDERS = sorted(p.parent.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("kustomization.yaml"))
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SUPPORTED_MINORS = 3  # upstream maintains the three newest minor releases (kubernetes.io/releases)

needs_kubectl = pytest.mark.skipif(
    shutil.which("kubectl") is None, reason="kubectl is not on PATH (1.32 with kustomize is on the dev machines)"
)


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def versions() -> list[str]:
    """The oldest minor upstream still supports (the newest known minus two) and the newest kubernetes-validate
    knows, read from the schemas the installed package ships."""
    known = sorted({_minor(v) for v in all_versions()})
    newest = known[-1]
    oldest = next(v for v in known if v >= (newest[0], newest[1] - SUPPORTED_MINORS + 1))
    return [f"{oldest[0]}.{oldest[1]}", f"{newest[0]}.{newest[1]}"]


#: Custom resources kubernetes-validate has no schema for: the fields of their CRD (upstream's openAPIV3Schema,
#: autoscaler/vertical-pod-autoscaler/deploy/vpa-v1-crd-gen.yaml), checked strictly one level down.
CRD_FIELDS = {
    ("autoscaling.k8s.io/v1", "VerticalPodAutoscaler"): {
        "spec": {"targetRef", "updatePolicy", "resourcePolicy", "recommenders"},
        "spec.targetRef": {"apiVersion", "kind", "name"},
        "spec.updatePolicy": {"updateMode", "minReplicas", "evictionRequirements"},
    },
}


def check_custom(obj: dict[str, Any], where: str, fields: dict[str, set[str]]) -> None:
    assert set(obj) <= {"apiVersion", "kind", "metadata", "spec", "status"}, where
    for path, allowed in fields.items():
        node: Any = obj
        for part in path.split("."):
            node = node.get(part) or {}
        assert set(node) <= allowed, f"{where}: {obj['kind']} {path}: unknown fields {set(node) - allowed}"
    assert obj["spec"]["updatePolicy"]["updateMode"] in ("Off", "Initial", "Recreate", "InPlaceOrRecreate", "Auto")


def check(obj: dict[str, Any], where: str) -> None:
    custom = CRD_FIELDS.get((obj["apiVersion"], obj["kind"]))
    if custom is not None:
        check_custom(obj, where, custom)
        return
    for version in versions():
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{where}: {obj['kind']}/{obj['metadata']['name']} invalid for Kubernetes {version}: "
                        f"{path}: {exc.message}")  # fmt: skip


def kustomize(folder: str) -> list[dict[str, Any]]:
    proc = subprocess.run(["kubectl", "kustomize", str(DEPLOY / folder)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"kubectl kustomize deploy/{folder}: {proc.stderr}"
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def test_versions_are_read_from_the_package():
    oldest, newest = versions()
    assert newest == max(all_versions(), key=_minor).rsplit(".", 1)[0]  # e.g. 1.37 for kubernetes-validate 1.37
    assert _minor(newest)[1] - _minor(oldest)[1] == SUPPORTED_MINORS - 1


def test_validation_is_strict():
    dep = manifests.render(validate({"name": "s", "load": {"rate_rps": 1, "duration": 1}}, "s")).deployment
    dep["spec"]["template"]["spec"]["containers"][0]["resources"]["requestz"] = {"cpu": "1"}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError, match="requestz"):
        kubernetes_validate.validate(dep, versions()[-1], strict=True)


@needs_kubectl
@pytest.mark.parametrize("folder", FOLDERS)
def test_every_kustomization_renders_and_validates(folder):
    objects = kustomize(folder)
    assert objects, f"deploy/{folder} renders nothing"
    for obj in objects:
        check(obj, f"deploy/{folder}")


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_drivers_manifests_validate(path):
    scenario = load_scenario(path)
    for obj in manifests.render(scenario, admin_token="t").all():
        check(obj, f"scenarios/{path.name}")


BEHAVIOR = {"scale_up": {"tolerance": 0.05, "stabilization_window": 0, "select_policy": "Max",
                         "policies": [{"type": "Pods", "value": 4, "period": "15s"}]},
            "scale_down": {"policies": [{"type": "Percent", "value": 50, "period": "1m"}]}}  # fmt: skip


def test_the_drivers_manifests_with_every_placement_field_validate():
    service = {
        "image": "ghcr.io/acme/kibench-service:0.1.0@sha256:" + "0" * 64,
        "image_pull_policy": "IfNotPresent",
        "image_pull_secrets": ["ghcr-pull"],
        "resources": {"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"cpu": 2, "memory": "2Gi", "gpu": 1}},
        "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
        "tolerations": [{"key": "dedicated", "value": "gpu", "effect": "NoExecute", "toleration_seconds": 60},
                        {"operator": "Exists"}],
    }  # fmt: skip
    scenario = validate({"name": "placed", "service": service, "load": {"rate_rps": 1, "duration": 1},
                         "platform": {"pdb": {"min_available": "50%"}, "hpa": {"enabled": True, "behavior": BEHAVIOR}}},
                        "s")  # fmt: skip
    for obj in manifests.render(scenario, admin_token="t").all():
        check(obj, "placement")


# ---- the base and overlays against the driver's manifests of the same scenario ------------------------------

LOAD = {"rate_rps": 1, "duration": 1}
HPA = {"enabled": True, "min_replicas": 2, "max_replicas": 8}
PDB = {"max_unavailable": 1}
EQUIVALENT: dict[str, dict[str, Any]] = {
    "base": {"platform": {"pod": {"gpus": 0}, "hpa": HPA, "pdb": PDB}},
    "overlays/gpu": {
        "platform": {"hpa": HPA, "pdb": PDB},
        "service": {"resources": {"limits": {"nvidia.com/gpu": 1}},
                    "node_selector": {"nvidia.com/gpu.present": "true"}},
    },
    "overlays/cpu-only": {
        "platform": {"hpa": HPA, "pdb": PDB},
        "service": {"resources": {"requests": {"cpu": "1", "memory": "512Mi"},
                                  "limits": {"memory": "512Mi", "gpu": 0}}},
    },
    "overlays/custom-metrics": {
        "platform": {"pod": {"gpus": 0}, "pdb": PDB, "hpa": {**HPA, "metrics": [
            {"type": "Pods", "name": "queue_depth", "target_average_value": 3},
            {"type": "Pods", "name": "device_busy", "target_average_value": 0.6},
        ]}},
    },
}  # fmt: skip


def essentials(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """What must agree between deploy/ and the driver: labels and selectors, image, ports, probes, resources,
    placement, scrape annotations, rollout, the Service's ports, the HPA and the PDB (not names' prefixes, the
    service's configuration env, nor kibench's own annotations)."""
    by_kind = {obj["kind"]: obj for obj in objects}
    dep, svc, hpa, pdb = (by_kind[k] for k in ("Deployment", "Service", "HorizontalPodAutoscaler",
                                               "PodDisruptionBudget"))  # fmt: skip
    template, container = dep["spec"]["template"], dep["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env") or []}
    return {
        "deployment": {
            "replicas": dep["spec"]["replicas"],
            "selector": dep["spec"]["selector"],
            "strategy": dep["spec"]["strategy"],
            "labels": template["metadata"]["labels"],
            "annotations": {k: v for k, v in template["metadata"]["annotations"].items() if "kibench.io" not in k},
            "pod": {k: v for k, v in template["spec"].items() if k != "containers"},
            "container": {k: v for k, v in container.items() if k != "env"},
            "env": {k: env.get(k) for k in ("KIBENCH_GRACE_S", "KIBENCH_REPLICA")},
        },
        "service": {
            "selector": svc["spec"]["selector"],
            "ports": svc["spec"]["ports"],
            "type": svc["spec"].get("type"),
        },
        "hpa": hpa["spec"],
        "pdb": pdb["spec"],
    }


@needs_kubectl
@pytest.mark.parametrize("folder", sorted(EQUIVALENT))
def test_deploy_agrees_with_the_drivers_manifests(folder):
    parts = EQUIVALENT[folder]
    scenario = validate({"name": "deploy", "load": LOAD, **parts}, f"EQUIVALENT[{folder!r}]")
    driver = manifests.render(scenario, name="kibench-service").all()
    assert essentials(kustomize(folder)) == essentials(driver)


def test_every_shipped_folder_is_checked_against_the_driver():
    assert {"base", "overlays/gpu", "overlays/cpu-only", "overlays/custom-metrics"} <= set(FOLDERS)
    assert set(EQUIVALENT) <= set(FOLDERS)
