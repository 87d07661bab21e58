"""service.image, .resources, .node_selector, .tolerations, .image_pull_secrets: validated in the scenario (file,
field, fix; exit 2), reconciled with platform.pod, rendered by the driver's manifests, shown by --dry-run, and
honoured by the embedded cluster (its scheduler's nodeSelector filter, its runtime's images)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.deployspec import HARNESS_IMAGE, SERVICE_IMAGE, quantity_value
from harness.errors import ScenarioError
from harness.platform.kubernetes import manifests
from harness.platform.local.apiserver.kubeconfig import write_kubeconfig
from harness.platform.local.images import argv_for
from harness.platform.local.scheduler import why_not
from harness.scenario import validate

ROOT = Path(__file__).parents[2]
BASE = {"name": "s", "load": {"rate_rps": 1, "duration": 1}}
PLACED = {
    "image": "ghcr.io/acme/kibench-service:0.1.0",
    "image_pull_policy": "Always",
    "image_pull_secrets": ["ghcr-pull"],
    "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"nvidia.com/gpu": 2, "memory": "8Gi"}},
    "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"},
    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"}],
}


def _scenario(service: dict | None = None, platform: dict | None = None):
    return validate({**BASE, "service": service or {}, "platform": platform or {}}, "s.yaml")


def test_images_are_named_by_the_package_version_and_built_by_the_dockerfile():
    from harness import __version__

    assert (f"kibench-service:{__version__}", f"kibench-harness:{__version__}") == (SERVICE_IMAGE, HARNESS_IMAGE)
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{__version__}"' in pyproject
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM \S+ AS (\w+)$", dockerfile, re.M)
    assert {"service", "harness"} <= set(stages) and stages[-1] == "service"  # plain `docker build .`: the service
    assert f"--target service -t {SERVICE_IMAGE} ." in dockerfile
    assert f"--target harness -t {HARNESS_IMAGE} ." in dockerfile
    assert _scenario().service.image == SERVICE_IMAGE


def test_the_placement_fields_render_into_the_pod_spec():
    scenario = _scenario(PLACED)
    assert scenario.platform.pod.gpus == 2 and scenario.platform.pod.cpu_request == 2.0  # reconciled: cost, HPA
    dep = manifests.render(scenario).deployment
    pod = dep["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == PLACED["image"] and container["imagePullPolicy"] == "Always"
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "2"},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": "2"},
    }
    assert pod["nodeSelector"] == PLACED["node_selector"]
    assert pod["imagePullSecrets"] == [{"name": "ghcr-pull"}]
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
    assert {"key": "dedicated", "operator": "Equal", "value": "inference", "effect": "NoSchedule"} in pod["tolerations"]
    config = json.loads(next(e["value"] for e in container["env"] if e["name"] == "KIBENCH_SERVICE_CONFIG"))
    assert "image" not in config and "resources" not in config and config["replicas"] == 2  # the process's fields only


def test_without_resources_the_pod_section_decides_and_no_gpu_means_no_gpu_anywhere():
    dep = manifests.render(_scenario(platform={"pod": {"gpus": 0, "cpu_request": 0.5}})).deployment
    pod = dep["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"] == {"requests": {"cpu": "500m"}}
    assert "nvidia.com/gpu" not in json.dumps(pod) and "nodeSelector" not in pod and "imagePullSecrets" not in pod
    # a cpu limit alone is also the request (Kubernetes' defaulting), and the HPA's utilisation uses it
    scenario = _scenario({"resources": {"limits": {"cpu": "1500m", "gpu": 0}}})
    assert scenario.platform.pod.cpu_request == 1.5 and scenario.platform.pod.gpus == 0
    assert manifests.render(scenario).deployment["spec"]["template"]["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "1500m"}, "limits": {"cpu": "1500m"}}  # fmt: skip


@pytest.mark.parametrize(
    ("service", "platform", "field", "words"),
    [
        ({"image": "Kibench Service"}, {}, "service.image", "not an image reference; write e.g."),
        ({"resources": {"limits": {"memory": "4GB"}}}, {}, "service.resources.limits.memory", "'512Mi' or '4Gi'"),
        ({"resources": {"requests": {"cpu": 0}}}, {}, "service.resources.requests.cpu", "leave the field out"),
        (
            {"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}},
            {},
            "service.resources",
            "requests.cpu (2) must be <= limits.cpu (1)",
        ),
        ({"resources": {"requests": {"gpu": 1}, "limits": {"gpu": 2}}}, {}, "service.resources", "overcommitted"),
        ({"resources": {"limits": {"amd.com/gpu": 1}}}, {}, "service.resources.limits.amd.com/gpu", "unknown field"),
        (
            {"resources": {"limits": {"gpu": 2}}},
            {"pod": {"gpus": 1}},
            "(top level)",
            "remove platform.pod.gpus (service.resources wins)",
        ),
        ({"node_selector": {"gpu type": "l4"}}, {}, "service.node_selector", "is not a label key"),
        (
            {"node_selector": {"nvidia.com/gpu.present": True}},
            {},
            "service.node_selector.nvidia.com/gpu.present",
            "valid string",
        ),
        (
            {"tolerations": [{"key": "gpu", "operator": "Exists", "value": "x"}]},
            {},
            "service.tolerations[0]",
            "operator Exists takes no value",
        ),
        ({"tolerations": [{"key": "gpu", "toleration_seconds": 5}]}, {}, "service.tolerations[0]", "NoExecute"),
        ({"image_pull_secrets": ["Registry_Key"]}, {}, "service.image_pull_secrets", "not a Secret name"),
        ({"image_pull_policy": "always"}, {}, "service.image_pull_policy", "'Always'"),
    ],
)
def test_bad_placement_names_the_field_and_the_fix(service, platform, field, words):
    with pytest.raises(ScenarioError) as err:
        _scenario(service, platform)
    assert err.value.path == "s.yaml" and err.value.field == field, str(err.value)
    assert words in err.value.problem, str(err.value)
    assert err.value.exit_code == 2


def test_quantities_read_as_kubernetes_reads_them():
    assert quantity_value("500m") == quantity_value("0.5") and quantity_value("1Gi") == 2**30
    assert quantity_value("1e3") == quantity_value("1k") == 1000 and quantity_value("2E") == 2 * 10**18
    assert quantity_value("2Ei") == 2 * 2**60
    for bad in ("1 GB", "1e99999999999", "-1"):
        with pytest.raises(ValueError, match="not a Kubernetes quantity"):
            quantity_value(bad)


def test_dry_run_shows_the_placement(tmp_path, kibench):
    kubeconfig = tmp_path / "kubeconfig"
    write_kubeconfig(kubeconfig, "https://127.0.0.1:9", "token", context="gke-ci")
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "name": "gpu", "service": PLACED}))
    sets = ["--set", "platform.kind=kubernetes", "--set", f"platform.kubeconfig={kubeconfig}"]
    proc = subprocess.run([*kibench, "run", str(path), "--dry-run", *sets], capture_output=True, text=True,
                          timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"pod(s) of image {PLACED['image']}" in proc.stdout
    dep = next(d for d in yaml.safe_load_all(proc.stdout) if d and d["kind"] == "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == PLACED["node_selector"] and pod["imagePullSecrets"] == [{"name": "ghcr-pull"}]
    assert pod["containers"][0]["resources"]["limits"] == {"memory": "8Gi", "nvidia.com/gpu": "2"}


def test_a_bad_field_exits_2_naming_file_and_field(tmp_path, kibench):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({**BASE, "service": {"resources": {"limits": {"memory": "lots"}}}}))
    proc = subprocess.run([*kibench, "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert f"{path}: service.resources.limits.memory: 'lots' is not a Kubernetes quantity" in proc.stderr


def _node(labels: dict[str, str]) -> dict:
    status = {"allocatable": {"nvidia.com/gpu": "4"}, "conditions": [{"type": "Ready", "status": "True"}]}
    return {"metadata": {"name": "n", "labels": labels}, "spec": {}, "status": status}


def test_the_embedded_scheduler_honours_the_node_selector():
    pod = manifests.render(_scenario({"node_selector": {"pool": "l4"}})).deployment["spec"]["template"]
    assert why_not(pod, _node({"pool": "l4", "other": "x"}), {}) is None
    assert why_not(pod, _node({"pool": "h100"}), {}) == "node(s) didn't match Pod's node affinity/selector"
    assert why_not(pod, _node({}), {}) == "node(s) didn't match Pod's node affinity/selector"


def test_the_embedded_runtime_runs_both_images_as_local_processes():
    service = argv_for({"image": "registry.example:5000/team/kibench-service:9.9@sha256:" + "a" * 64})
    assert service == [sys.executable, "-m", "harness.service"]
    harness = argv_for({"image": HARNESS_IMAGE, "args": ["validate", "scenarios/smoke.yaml"]})
    assert harness is not None and harness[-2:] == ["validate", "scenarios/smoke.yaml"]
    proc = subprocess.run(harness, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr  # the harness image's entrypoint is this installation's kibench
    assert argv_for({"image": "vllm/vllm-openai:v0.6.0"}) is None  # not an image this runtime has: ErrImagePull
