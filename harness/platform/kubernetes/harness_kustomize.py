"""``deploy/harness/``: the objects of ``kibench cluster run`` as a Kustomize folder, generated from the same code.

In: a namespace (``kibench``) and the scenario file the folder ships (``deploy/harness/scenario.yaml``).
Out: ``files()``, the folder's files by name: ``kustomization.yaml`` (namespace, resources and a
``configMapGenerator`` that puts ``scenario.yaml`` in the ConfigMap ``kibench-harness``, without a hash suffix so
the Job's volume names it as ``kibench cluster run`` does), ``namespace.yaml`` and one file per object of
``harness_job.render``, with the Role for a service with every kind (Secret, Deployment, Service, HPA, PDB),
so any scenario without ``faults:`` runs with it.

``python -m harness.platform.kubernetes.harness_kustomize deploy/harness`` rewrites the folder (keeping a
``scenario.yaml`` that is there); ``tests/kube/test_harness_job.py`` checks the folder is what this writes and
that ``kubectl kustomize deploy/harness`` renders exactly ``harness_job.render``'s objects.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from harness.platform.kubernetes import harness_job

NAMESPACE = "kibench"
#: The service's objects of deploy/harness/scenario.yaml (name ``smoke``), with an HPA and a PDB (any scenario
#: named ``smoke`` without faults runs with this Role; another name needs its admin Secret's name in the Role).
ALL_KINDS = {k: "smoke-svc" for k in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget")}
ALL_KINDS["Secret"] = "smoke-svc-admin"
HEADER = "# Generated: python -m harness.platform.kubernetes.harness_kustomize deploy/harness (edit scenario.yaml)\n"
FILES = {
    "ServiceAccount": "serviceaccount.yaml",
    "Role": "role.yaml",
    "RoleBinding": "rolebinding.yaml",
    "ClusterRole": "clusterrole.yaml",
    "ClusterRoleBinding": "clusterrolebinding.yaml",
    "Job": "job.yaml",
}


def objects(scenario_text: str, namespace: str = NAMESPACE) -> list[dict]:
    """What ``kubectl kustomize`` renders: the namespace and ``harness_job.render``'s objects."""
    rendered = harness_job.render(scenario_text, [], namespace, ALL_KINDS).objects
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}, *rendered]


def files(namespace: str = NAMESPACE) -> dict[str, str]:
    rendered = objects("", namespace)
    out = {"namespace.yaml": HEADER + yaml.safe_dump(rendered[0], sort_keys=False)}
    for obj in rendered[1:]:
        if obj["kind"] == "ConfigMap":
            continue  # from the generator below
        body = {**obj, "metadata": {k: v for k, v in obj["metadata"].items() if k != "namespace"}}
        out[FILES[obj["kind"]]] = HEADER + yaml.safe_dump(body, sort_keys=False)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": ["namespace.yaml", *FILES.values()],
        "configMapGenerator": [
            {
                "name": harness_job.NAME,
                "files": [harness_job.SCENARIO_KEY],
                "options": {"disableNameSuffixHash": True, "labels": {harness_job.APP_LABEL: harness_job.NAME}},
            }
        ],
    }
    out["kustomization.yaml"] = HEADER + yaml.safe_dump(kustomization, sort_keys=False)
    return out


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files().items():
        (folder / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "deploy/harness"))
