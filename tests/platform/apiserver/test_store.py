"""The Store on its own (no HTTP, no event loop: background steps run at once)."""

from __future__ import annotations

import asyncio

import pytest

from harness.platform.local.apiserver import ApiError, Store
from harness.platform.local.apiserver.changes import Change, ChangeLog, Entry
from tests.platform.apiserver.manifests import deployment_manifest, pod_manifest


def test_create_fills_metadata_and_refuses_duplicates():
    store = Store(clock=lambda: 1_700_000_000.0)
    pod = store.create("pods", "default", {"metadata": {"generateName": "web-"}, "spec": pod_manifest("x")["spec"]})
    meta = pod["metadata"]
    assert meta["name"].startswith("web-") and len(meta["name"]) == 9 and meta["namespace"] == "default"
    assert meta["creationTimestamp"] == "2023-11-14T22:13:20Z" and meta["uid"] and meta["generation"] == 1
    assert pod["apiVersion"] == "v1" and pod["kind"] == "Pod" and pod["spec"]["volumes"] == []
    store.create("pods", "default", pod_manifest("p1"))
    with pytest.raises(ApiError) as err:
        store.create("pods", "default", pod_manifest("p1"))
    assert err.value.code == 409 and err.value.reason == "AlreadyExists"
    with pytest.raises(ApiError) as err:
        store.create("pods", "nope", pod_manifest("p2"))
    assert err.value.code == 404 and err.value.message == 'namespaces "nope" not found'
    with pytest.raises(ApiError) as err:
        store.create("widgets", "default", {})
    assert err.value.code == 404


def test_mutate_stores_only_changes_and_keeps_snapshots():
    store = Store()
    store.create("deployments.apps", "default", deployment_manifest("web"))
    events: list[tuple[str, str, str]] = []
    store.subscribe(lambda kind, res, obj: events.append((kind, res, obj["metadata"]["resourceVersion"])))
    before = store.get("deployments.apps", "default", "web", copy=False)
    rv = store.resource_version
    assert store.mutate("deployments.apps", "default", "web", lambda d: None)["metadata"]["resourceVersion"] == rv
    assert events == []
    after = store.mutate("deployments.apps", "default", "web", lambda d: d["status"].update(replicas=2))
    assert after["metadata"]["generation"] == 1 and events == [
        ("MODIFIED", "deployments.apps", after["metadata"]["resourceVersion"])
    ]  # noqa: E501
    after = store.mutate("deployments.apps", "default", "web", lambda d: d["spec"].update(replicas=3))
    assert after["metadata"]["generation"] == 2
    assert before["spec"]["replicas"] == 2 and "replicas" not in before["status"]  # the old snapshot never changed
    assert store.mutate("deployments.apps", "default", "ghost", lambda d: None) is None


def test_subscribers_see_changes_in_order_even_when_they_write():
    store = Store()
    seen: list[tuple[str, str]] = []

    def scheduler(kind, resource, obj):
        if resource == "pods" and kind == "ADDED":
            store.mutate(
                "pods", obj["metadata"]["namespace"], obj["metadata"]["name"], lambda p: p["spec"].update(nodeName="n1")
            )  # noqa: E501

    store.subscribe(scheduler)
    store.subscribe(lambda kind, resource, obj: seen.append((kind, obj["spec"].get("nodeName", ""))))
    store.create("pods", "default", pod_manifest("p1"))
    assert seen == [("ADDED", ""), ("MODIFIED", "n1")]


def test_remove_and_the_watch_ring_buffer():
    store = Store(watch_buffer=3)
    store.create("pods", "default", pod_manifest("p1"))
    rv = store.resource_version
    store.create("pods", "default", pod_manifest("p2"))
    assert store.remove("pods", "default", "p2")["metadata"]["name"] == "p2"
    assert store.remove("pods", "default", "p2") is None
    watch = store.watch("pods", "default", rv)
    assert [(t, e.obj["metadata"]["name"]) for t, e in watch.drain()] == [("ADDED", "p2"), ("DELETED", "p2")]
    for name in ("a", "b", "c"):
        store.create("pods", "default", pod_manifest(name))
    with pytest.raises(ApiError) as err:
        store.watch("pods", "default", rv)
    assert err.value.code == 410
    initial = store.watch("pods", None, "0", label_selector="app=web")
    assert [e.obj["metadata"]["name"] for _, e in initial.drain()] == ["a", "b", "c", "p1"]


def test_a_busy_resource_keeps_75_s_of_history_and_a_quiet_one_its_last_changes():
    now = [0.0]
    log = ChangeLog(size=1000, window_s=75.0, clock=lambda: now[0], min_size=2)
    entry = Entry({"metadata": {"resourceVersion": "1"}})
    log.append(Change(1, "ADDED", "nodes", None, entry))
    for rv in range(2, 6):  # pods at 0, 10, 20, 30 s
        log.append(Change(rv, "ADDED", "pods", "default", entry))
        now[0] += 10.0
    assert [c.rv for c in log.since("pods", 2, 5)] == [3, 4, 5]
    now[0] = 106.0  # pods 2-5 are over 75 s old: the next write drops the oldest down to min_size (2, 3, 4)
    log.append(Change(6, "ADDED", "pods", "default", entry))
    with pytest.raises(ApiError) as err:
        log.since("pods", 2, 6)
    assert err.value.code == 410 and "too old resource version: 2 (5)" in err.value.message
    assert [c.rv for c in log.since("pods", 4, 6)] == [5, 6]
    assert [c.rv for c in log.since("nodes", 0, 6)] == [1]  # a quiet resource: its one change, 106 s old, kept
    now[0] = 1000.0
    log.append(Change(7, "ADDED", "pods", "default", entry))
    assert [c.rv for c in log.since("pods", 6, 7)] == [7] and len(log) == 1 + 2  # min_size pods, one node


def test_a_watch_resumes_from_a_version_other_resources_moved_past():
    store = Store(watch_buffer=3)
    store.create("namespaces", None, {"metadata": {"name": "team"}})
    rv = store.resource_version
    for name in ("a", "b", "c", "d"):  # more pod changes than the buffer: only pod watchers from before lose
        store.create("pods", "default", pod_manifest(name))
    assert store.watch("namespaces", None, rv).drain() == []


def test_finalizers_hold_deletion_until_removed():
    store = Store()
    body = deployment_manifest("web")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    store.create("deployments.apps", "default", body)
    obj, removed = store.delete("deployments.apps", "default", "web")
    assert not removed and obj["metadata"]["deletionTimestamp"]
    store.patch(
        "deployments.apps", "default", "web", {"metadata": {"finalizers": None}}, "application/merge-patch+json"
    )
    assert store.list("deployments.apps")[0] == []


def test_namespace_deletion_waits_for_terminating_pods():
    store = Store()
    store.create("namespaces", None, {"metadata": {"name": "team"}})
    store.create("pods", "team", pod_manifest("bound", node="n1"))
    store.create("pods", "team", pod_manifest("free"))
    store.create("services", "team", {"metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}})
    ns, removed = store.delete("namespaces", None, "team")
    assert not removed and ns["status"]["phase"] == "Terminating"
    assert [p["metadata"]["name"] for p in store.list("pods", "team")[0]] == ["bound"]
    assert store.list("services", "team")[0] == []
    with pytest.raises(ApiError) as err:
        store.create("pods", "team", pod_manifest("late"))
    assert err.value.code == 403
    store.remove("pods", "team", "bound")  # the kubelet finishes the pod
    assert [n["metadata"]["name"] for n in store.list("namespaces")[0]] == ["default"]


def test_cascade_runs_on_the_next_loop_turn():
    async def scenario():
        store = Store()
        owner = store.create("replicasets.apps", "default", {**deployment_manifest("rs"), "kind": "ReplicaSet"})
        body = pod_manifest("child")
        body["metadata"]["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": owner["metadata"]["uid"]}
        ]
        store.create("pods", "default", body)
        store.delete("replicasets.apps", "default", "rs")
        assert store.list("pods")[0] != []  # the answer goes out before dependents are collected
        await asyncio.sleep(0)
        assert store.list("pods")[0] == []

    asyncio.run(scenario())
