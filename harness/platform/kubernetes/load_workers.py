"""``load.placement: cluster``: the Locust workers as a Deployment, and the Service through which they reach the master.

In: the run's namespace, ``load.workers`` and the harness image.  Out: ``objects()``, the Service
``kibench-load-master`` (port ``deployspec.LOAD_MASTER_PORT``, selecting the Job's pod, where the in-pod run's
Locust master listens) and the Deployment ``kibench-load-worker`` (``replicas = load.workers``, the harness
image running ``python -m harness.load --role remote-worker``), in the order to create them: the Service first,
so that every worker pod gets its links (``KIBENCH_LOAD_MASTER_SERVICE_HOST`` / ``_PORT``); and
``master_container(container)``, the Job's container with the master's port and its pod IP (Downward API).

``kibench cluster run`` creates these with the Job, through the guard, stamped with the run's label, and deletes
them with it: the Job's service account needs no permission for them (the Role is unchanged).  The workers use
no Kubernetes API at all: ``automountServiceAccountToken: false``.  Each asks for one CPU (a gevent loop uses
one core; ``kibench report`` warns when a worker was CPU-bound) and prefers a node of its own
(``topologySpreadConstraints`` on the hostname, ``ScheduleAnyway``), which is what lets one run outgrow one
machine.
"""

from __future__ import annotations

from typing import Any

from harness import deployspec

Obj = dict[str, Any]
APP_LABEL = "app.kubernetes.io/name"
CONTAINER = "locust-worker"
PORT_NAME = "locust-master"


def worker_labels() -> dict[str, str]:
    return {APP_LABEL: deployspec.LOAD_WORKERS_NAME}


def objects(namespace: str, workers: int, image: str, master_labels: dict[str, str]) -> list[Obj]:
    """The Service in front of the master (pods with ``master_labels``) and the workers' Deployment."""
    port = deployspec.LOAD_MASTER_PORT
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": deployspec.LOAD_MASTER_SERVICE, "namespace": namespace,
                     "labels": {APP_LABEL: deployspec.LOAD_MASTER_SERVICE}},  # fmt: skip
        "spec": {
            "selector": dict(master_labels),
            "ports": [{"name": PORT_NAME, "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }
    labels = worker_labels()
    container = {
        "name": CONTAINER,
        "image": image,
        "command": ["python", "-m", "harness.load"],
        "args": ["--role", "remote-worker", "--master-service", deployspec.LOAD_MASTER_SERVICE,
                 "--master-port", str(port)],  # fmt: skip
        "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}],
        "resources": {"requests": {"cpu": "1", "memory": "512Mi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": deployspec.LOAD_WORKERS_NAME, "namespace": namespace, "labels": dict(labels)},
        "spec": {
            "replicas": workers,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 10,
                    "topologySpreadConstraints": [
                        {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway",
                         "labelSelector": {"matchLabels": dict(labels)}}  # fmt: skip
                    ],
                    "containers": [container],
                },
            },
        },
    }
    return [service, deployment]


def master_container(container: Obj) -> Obj:
    """The Job's container, listening for the workers: the master's port and ``KIBENCH_POD_IP`` (its pod IP)."""
    pod_ip = {"name": deployspec.POD_IP_ENV, "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
    ports = [{"name": PORT_NAME, "containerPort": deployspec.LOAD_MASTER_PORT, "protocol": "TCP"}]
    return {**container, "env": [*container.get("env", []), pod_ip], "ports": ports}
