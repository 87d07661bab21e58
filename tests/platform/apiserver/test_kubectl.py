"""The real kubectl (1.32 on PATH) against the embedded API server, through a kubeconfig with token and CA."""

from __future__ import annotations

import asyncio
import os
import select
import time

import yaml

from tests.platform.apiserver.manifests import deployment_manifest, node_manifest, pod_manifest, running_status


def _seed(api) -> None:
    store = api.store
    api.call(store.create, "nodes", None, node_manifest("n1"))
    api.call(store.create, "pods", "default", pod_manifest("p1", node="n1"))
    api.call(store.mutate, "pods", "default", "p1", lambda p: p.update(status=running_status()))
    api.call(store.create, "pods", "default", pod_manifest("p2"))
    dep = api.call(store.create, "deployments.apps", "default", deployment_manifest("web"))
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": dep["metadata"]["uid"]}
    rs = {**deployment_manifest("web-1"), "kind": "ReplicaSet"}
    rs["metadata"]["ownerReferences"] = [{**owner, "controller": True}]
    api.call(store.create, "replicasets.apps", "default", rs)
    hpa_spec = {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5}
    api.call(
        store.create, "horizontalpodautoscalers.autoscaling", "default", {"metadata": {"name": "web"}, "spec": hpa_spec}
    )
    pdb_spec = {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}
    api.call(store.create, "poddisruptionbudgets.policy", "default", {"metadata": {"name": "web"}, "spec": pdb_spec})
    uid = api.call(store.get, "pods", "default", "p1")["metadata"]["uid"]
    event = {
        "metadata": {"name": "p1.started"},
        "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default", "uid": uid, "apiVersion": "v1"},
        "reason": "Started",
        "message": "Started container main",
        "type": "Normal",
        "source": {"component": "kubelet", "host": "n1"},
        "count": 1,
    }
    api.call(store.create, "events", "default", event)


def _header(output: str) -> list[str]:
    return [line.split() for line in output.splitlines() if line.startswith("NAME") or line.startswith("LAST")]


def test_get_prints_the_kubectl_columns(api, kubectl):
    _seed(api)
    out = kubectl.run("get", "pods,nodes,deploy,rs,hpa,pdb,events").stdout
    assert "NAME     READY   STATUS    RESTARTS   AGE" in out
    assert "pod/p1   1/1     Running   0" in out and "pod/p2   0/1     Pending   0" in out
    assert "node/n1   Ready    worker" in out and "v1.32.0-kibench" in out
    assert "NAME                  READY   UP-TO-DATE   AVAILABLE   AGE" in out
    assert ["NAME", "DESIRED", "CURRENT", "READY", "AGE"] in _header(out)
    assert "REFERENCE" in out and "Deployment/web" in out and "TARGETS" in out and "MINPODS" in out
    assert "MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS" in out
    assert "LAST SEEN" in out and "pod/p1" in out and "Started container main" in out
    wide = kubectl.run("get", "pods", "-o", "wide").stdout
    assert wide.splitlines()[0].split() == [
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
        "NOMINATED",
        "NODE",
        "READINESS",
        "GATES",
    ]
    assert "10.244.0.5" in wide and " n1 " in wide
    assert "default" in kubectl.run("get", "pods", "-A").stdout
    assert "Server Version: v1.32.0-kibench" in kubectl.run("version").stdout


def test_get_watch_prints_a_change(api, kubectl):
    _seed(api)
    proc = kubectl.popen("get", "pods", "-w")
    try:
        seen = b""
        deadline = time.time() + 20

        def read_until(text: str) -> None:
            nonlocal seen
            while text.encode() not in seen:
                assert time.time() < deadline, f"no {text!r} in {seen!r}"
                ready, _, _ = select.select([proc.stdout], [], [], 0.2)
                if ready:
                    seen += os.read(proc.stdout.fileno(), 65536)

        read_until("p2")
        api.call(api.store.mutate, "pods", "default", "p2", lambda p: p["status"].update(phase="Failed"))
        read_until("Failed")
    finally:
        proc.kill()
        proc.wait()


def test_describe_pod_lists_its_events(api, kubectl):
    _seed(api)
    out = kubectl.run("describe", "pod", "p1").stdout
    assert "Name:         p1" in out and "Status:       Running" in out
    assert "Started" in out and "kubelet" in out and "Started container main" in out


def test_logs(api, kubectl):
    _seed(api)
    api.log_file("default", "p1", "main").write_text("first\nsecond\n")
    assert kubectl.run("logs", "p1").stdout == "first\nsecond\n"
    assert kubectl.run("logs", "p1", "--tail=1").stdout == "second\n"
    assert kubectl.run("logs", "p2", check=False).returncode != 0  # no log file: 404


def test_scale_cordon_uncordon_and_rollout_restart(api, kubectl):
    _seed(api)
    assert "deployment.apps/web scaled" in kubectl.run("scale", "deploy", "web", "--replicas=4").stdout
    dep = api.call(api.store.get, "deployments.apps", "default", "web")
    assert dep["spec"]["replicas"] == 4 and dep["metadata"]["generation"] == 2
    kubectl.run("cordon", "n1")
    assert api.call(api.store.get, "nodes", None, "n1")["spec"]["unschedulable"] is True
    assert "Ready,SchedulingDisabled" in kubectl.run("get", "nodes").stdout
    kubectl.run("uncordon", "n1")
    assert "unschedulable" not in api.call(api.store.get, "nodes", None, "n1")["spec"]
    assert "restarted" in kubectl.run("rollout", "restart", "deploy/web").stdout
    dep = api.call(api.store.get, "deployments.apps", "default", "web")
    assert "kubectl.kubernetes.io/restartedAt" in dep["spec"]["template"]["metadata"]["annotations"]
    assert dep["metadata"]["generation"] == 3


def test_delete_pods(api, kubectl):
    _seed(api)
    assert 'pod "p2" deleted' in kubectl.run("delete", "pod", "p2").stdout  # unbound: gone at once
    kubectl.run("delete", "pod", "p1", "--wait=false")  # bound: graceful, the kubelet finishes it
    assert "Terminating" in kubectl.run("get", "pod", "p1").stdout
    api.call(api.store.remove, "pods", "default", "p1")
    assert kubectl.run("get", "pod", "p1", check=False).returncode != 0


def test_create_from_a_manifest(api, kubectl, tmp_path):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(yaml.safe_dump(deployment_manifest("api", replicas=3, app="api")))
    out = kubectl.run("create", "-f", str(manifest), "--validate=false").stdout
    assert "deployment.apps/api created" in out
    dep = api.call(api.store.get, "deployments.apps", "default", "api")
    assert dep["spec"]["replicas"] == 3
    assert "pdb" in kubectl.run("api-resources").stdout


def test_create_namespace_sends_protobuf(api, kubectl):
    assert "namespace/team created" in kubectl.run("create", "namespace", "team").stdout
    ns = api.call(api.store.get, "namespaces", None, "team")
    assert ns["status"]["phase"] == "Active" and "generateName" not in ns["metadata"]


def test_drain_evicts_through_the_budget(api, kubectl):
    """kubectl drain's evictions arrive as protobuf; a fake kubelet (a store subscriber) removes evicted pods."""
    store = api.store
    api.call(store.create, "nodes", None, node_manifest("n1"))
    rs = api.call(store.create, "replicasets.apps", "default", {**deployment_manifest("web-1"), "kind": "ReplicaSet"})
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web-1",
        "uid": rs["metadata"]["uid"],
        "controller": True,
    }  # noqa: E501
    for name in ("web-1-a", "web-1-b"):
        body = pod_manifest(name, node="n1")
        body["metadata"]["ownerReferences"] = [owner]
        api.call(store.create, "pods", "default", body)
        api.call(store.mutate, "pods", "default", name, lambda p: p.update(status=running_status()))
    pdb = {"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    api.call(store.create, "poddisruptionbudgets.policy", "default", pdb)

    def allow_one(pdb):
        pdb["status"].update(disruptionsAllowed=1, currentHealthy=2, desiredHealthy=1, expectedPods=2)

    def fake_kubelet(kind, resource, obj):
        meta = obj["metadata"]
        if resource == "pods" and meta.get("deletionTimestamp"):
            asyncio.get_running_loop().call_later(0.05, store.remove, "pods", meta["namespace"], meta["name"])

    api.call(store.subscribe, fake_kubelet)
    api.call(store.mutate, "poddisruptionbudgets.policy", "default", "web", allow_one)
    blocked = kubectl.run("drain", "n1", "--ignore-daemonsets", "--timeout=3s", check=False)
    assert blocked.returncode != 0 and "disruption budget" in blocked.stdout + blocked.stderr
    assert len(api.call(store.list, "pods", "default")[0]) == 1
    assert api.call(store.get, "nodes", None, "n1")["spec"]["unschedulable"] is True
    api.call(store.mutate, "poddisruptionbudgets.policy", "default", "web", allow_one)
    drained = kubectl.run("drain", "n1", "--ignore-daemonsets", "--timeout=20s")
    assert "node/n1 drained" in drained.stdout
    assert api.call(store.list, "pods", "default")[0] == []
