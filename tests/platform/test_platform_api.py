"""The daemon's JSON API contract (docs/local-api.md) and the environment replicas get."""

from __future__ import annotations

import psutil
import pytest


@pytest.mark.slow
def test_state_events_errors_and_replica_environment(start_daemon):
    daemon = start_daemon(replicas=1, platform={"nodes": {"count": 1, "gpu_slots": 2}})
    (replica,) = daemon.wait_ready(1)
    state = daemon.state()
    assert state["balancer_url"] == daemon.balancer_url and state["api_url"] == daemon.api_url
    assert len(state["admin_token"]) >= 20 and state["hpa"] == {"enabled": False}
    (node,) = state["nodes"]
    assert {k: v for k, v in node.items() if k != "created_s"} == {
        "name": "local-node-0", "ready": True, "cordoned": False, "gpu_slots": 2, "gpu_used": 1,
    }  # fmt: skip
    assert {"name", "node", "port", "phase", "ready", "created_s", "ready_s", "restarts", "version"} <= set(replica)
    env = psutil.Process(daemon.pid(replica["name"])).environ()
    assert env["KIBENCH_ADMIN_TOKEN"] == state["admin_token"]
    assert env["KIBENCH_REPLICA"] == replica["name"] and env["KIBENCH_PORT"] == str(replica["port"])
    assert replica["name"] in env["KIBENCH_STATE_DIR"]

    page = daemon.http.get(f"{daemon.api_url}/events?since=2").json()
    assert page["next"] == len(daemon.events()) and page["events"] == daemon.events()[2:]
    assert daemon.http.get(f"{daemon.api_url}/events?since=x").status_code == 400
    assert daemon.post("/scale", {"replicas": -1}).status_code == 422
    assert daemon.post("/scale", {"replicas": True}).status_code == 422
    assert daemon.post("/nodes/local-node-9/fail").status_code == 404
    assert daemon.post("/nodes/local-node-0/fail", {"duration_s": "soon"}).status_code == 422
    assert daemon.post("/rollout", {"service": {}}).status_code == 422
    assert daemon.post("/rollout", {"service": {"no_such_field": 1}}).status_code == 422
    bad_json = daemon.http.post(f"{daemon.api_url}/scale", content=b"{", headers={"content-type": "application/json"})
    assert bad_json.status_code == 400 and "JSON" in bad_json.json()["error"]

    daemon.post("/scale", {"replicas": 3})  # one node with 2 GPU slots: the third pod stays Pending
    daemon.wait_for(lambda: daemon.events("pod_unschedulable"), 10, "pod_unschedulable")
    pending = [r for r in daemon.state()["replicas"] if r["phase"] == "Pending"]
    assert len(pending) == 1 and pending[0]["node"] is None
    assert daemon.post("/nodes/local-node-0/cordon").status_code == 200
    assert daemon.state()["nodes"][0]["cordoned"] is True
    assert daemon.http.delete(f"{daemon.api_url}/nodes/local-node-0").status_code == 200
    daemon.wait_for(lambda: daemon.events("node_removed"), 5, "node_removed")
    daemon.wait_for(lambda: all(r["node"] is None for r in daemon.state()["replicas"]), 10, "every pod Pending")
    assert daemon.state()["nodes"] == []
