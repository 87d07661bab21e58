"""Manifests and kubelet-style statuses the embedded API server tests create."""

from __future__ import annotations

from typing import Any


def pod_manifest(name: str, labels: dict[str, str] | None = None, node: str | None = None, **spec: Any) -> dict:
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": "web"}},
        "spec": {"containers": [{"name": "main", "image": "kibench/echo:1"}], **spec},
    }
    if node:
        body["spec"]["nodeName"] = node
    return body


def deployment_manifest(name: str, replicas: int = 2, app: str = "web") -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": app}},
            "template": {
                "metadata": {"labels": {"app": app}},
                "spec": {"containers": [{"name": "main", "image": "kibench/echo:1"}]},
            },
        },
    }


def node_manifest(name: str, ready: bool = True) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "node-role.kubernetes.io/worker": ""}},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": "b",
                "containerRuntimeVersion": "kibench://1",
                "kernelVersion": "6.1",
                "kubeProxyVersion": "",
                "kubeletVersion": "v1.32.0-kibench",
                "machineID": "m",
                "operatingSystem": "linux",
                "osImage": "kibench",
                "systemUUID": "s",
            },
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
        },
    }


def running_status(ready: bool = True, node_ip: str = "10.244.0.5") -> dict:
    """A pod status as a kubelet writes it (for store.mutate in tests)."""
    now = "2025-01-01T00:00:00Z"
    flag = "True" if ready else "False"
    return {
        "phase": "Running",
        "startTime": now,
        "podIP": node_ip,
        "conditions": [
            {"type": t, "status": "True" if t in ("PodScheduled", "Initialized") else flag, "lastTransitionTime": now}
            for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
        ],
        "containerStatuses": [
            {
                "name": "main",
                "image": "kibench/echo:1",
                "imageID": "sha256:0",
                "ready": ready,
                "restartCount": 0,
                "started": True,
                "state": {"running": {"startedAt": now}},
            }
        ],
    }


def status_of(exc: Any) -> dict:
    """The ``kind: Status`` body of an ApiException."""
    import json

    return json.loads(exc.body)
