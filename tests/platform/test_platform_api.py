"""What a replica gets from its pod spec, the private API's contract (docs/local-api.md), and Pending pods.

The container's environment comes from the Deployment kibench renders (a Secret for the admin token, the
downward API for the pod name) plus what the embedded runtime assigns (the loopback address and port); the
private API refuses what it cannot do with a 4xx naming the field; a pod that fits no node stays Pending
with a FailedScheduling event, and deleting its node through the Kubernetes API leaves its pods Pending.
"""

from __future__ import annotations

import base64

import httpx
import psutil
import pytest


@pytest.mark.slow
def test_replica_environment_private_api_errors_and_pending_pods(start_cluster):
    cluster = start_cluster(replicas=1, platform={"nodes": {"count": 1, "gpu_slots": 2}})
    (replica,) = cluster.wait_ready(1)
    pod = cluster.pod(replica.name)
    env = psutil.Process(cluster.pid(replica.name)).environ()
    secret = cluster.core.read_namespaced_secret(f"{cluster.name}-admin", "default")
    assert env["KIBENCH_ADMIN_TOKEN"] == base64.b64decode(secret.data["token"]).decode()
    assert env["KIBENCH_REPLICA"] == replica.name == env["HOSTNAME"]
    assert env["KIBENCH_HOST"] == pod["status"]["podIP"] and env["KIBENCH_PORT"] == "8000"
    assert replica.name in env["KIBENCH_STATE_DIR"] and "KIBENCH_SERVICE_CONFIG" in env

    assert httpx.post(f"{cluster.hello['api']}/kibench/v1/shutdown", verify=False).status_code == 401
    assert cluster.fail_node("local-node-9").status_code == 404
    assert cluster.private("POST", "/kibench/v1/nodes/local-node-0/fail", {"duration_s": "soon"}).status_code == 422
    recovered = cluster.private("POST", "/kibench/v1/nodes/local-node-0/recover")  # a Ready node: nothing to do
    assert recovered.status_code == 200, recovered.text
    assert cluster.private("GET", "/kibench/v1/healthz").status_code == 200

    cluster.driver.scale(3)  # one node with 2 GPU slots: the third pod stays Pending
    cluster.wait_for(lambda: cluster.events("pod_unschedulable"), 15, "pod_unschedulable")
    pending = [p for p in cluster.pods() if not p["spec"].get("nodeName")]
    assert len(pending) == 1 and pending[0]["status"]["phase"] == "Pending"
    [failed] = [
        e
        for e in cluster.k8s_events("FailedScheduling")
        if e["involvedObject"]["name"] == pending[0]["metadata"]["name"]
    ][:1]
    assert failed["message"] == "0/1 nodes are available: 1 Insufficient nvidia.com/gpu."

    cluster.core.delete_node("local-node-0")
    cluster.wait_for(lambda: cluster.events("node_removed"), 10, "node_removed")
    cluster.wait_for(lambda: all(not p["spec"].get("nodeName") for p in cluster.pods()), 20, "every pod Pending")
    assert cluster.core.list_node().items == []
