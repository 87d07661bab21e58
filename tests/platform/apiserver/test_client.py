"""The official ``kubernetes`` Python client against the embedded API server over loopback."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from harness.platform.local.apiserver import Store, ThreadedApiServer
from harness.procs import poll_until
from tests.platform.apiserver.manifests import (
    deployment_manifest,
    node_manifest,
    pod_manifest,
    running_status,
    status_of,
)


def test_load_kube_config_reaches_the_server(api):
    config.load_kube_config(config_file=str(api.kubeconfig))
    names = [ns.metadata.name for ns in client.CoreV1Api().list_namespace().items]
    assert names == ["default"]
    version = client.VersionApi().get_code()
    assert version.git_version == "v1.32.0-kibench" and version.platform


def test_pod_create_get_list_replace_patch_delete(k8s):
    core = client.CoreV1Api(k8s)
    created = core.create_namespaced_pod("default", pod_manifest("p1"))
    assert created.metadata.uid and created.metadata.resource_version and created.metadata.creation_timestamp
    assert created.spec.volumes == [] and created.status.phase == "Pending"
    got = core.read_namespaced_pod("p1", "default")
    assert got.metadata.uid == created.metadata.uid
    listed = core.list_namespaced_pod("default")
    assert [p.metadata.name for p in listed.items] == ["p1"] and listed.metadata.resource_version
    got.metadata.labels["tier"] = "front"
    replaced = core.replace_namespaced_pod("p1", "default", got)
    assert replaced.metadata.labels == {"app": "web", "tier": "front"}
    assert int(replaced.metadata.resource_version) > int(created.metadata.resource_version)
    patched = core.patch_namespaced_pod("p1", "default", {"metadata": {"labels": {"tier": None, "x": "1"}}})
    assert patched.metadata.labels == {"app": "web", "x": "1"}
    deleted = core.delete_namespaced_pod("p1", "default")
    assert deleted.metadata.name == "p1"  # an unbound pod goes at once
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod("p1", "default")
    assert err.value.status == 404 and status_of(err.value)["message"] == 'pods "p1" not found'


def test_stale_replace_is_a_conflict_and_duplicates_already_exist(k8s):
    core = client.CoreV1Api(k8s)
    first = core.create_namespaced_pod("default", pod_manifest("p1"))
    core.patch_namespaced_pod("p1", "default", {"metadata": {"labels": {"v": "2"}}})
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_pod("p1", "default", first)
    assert err.value.status == 409 and '"reason":"Conflict"' in err.value.body
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("default", pod_manifest("p1"))
    assert err.value.status == 409 and "AlreadyExists" in err.value.body
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod("nowhere", pod_manifest("p2"))
    assert err.value.status == 404 and status_of(err.value)["message"] == 'namespaces "nowhere" not found'


def test_nodes_services_events_namespaces_crud(k8s):
    core = client.CoreV1Api(k8s)
    core.create_node(node_manifest("n1"))
    node = core.patch_node("n1", {"spec": {"unschedulable": True}})
    assert node.spec.unschedulable is True
    node = core.patch_node("n1", {"spec": {"unschedulable": None}})
    assert node.spec.unschedulable is None
    status = core.delete_node("n1")
    assert status.status == "Success"

    svc = core.create_namespaced_service(
        "default", {"metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}
    )
    assert svc.spec.cluster_ip.startswith("10.96.") and svc.spec.ports[0].target_port == 80
    svc.spec.ports[0].port = 8080
    assert core.replace_namespaced_service("web", "default", svc).spec.ports[0].port == 8080
    core.delete_namespaced_service("web", "default")

    core.create_namespace({"metadata": {"name": "team"}})
    event = core.create_namespaced_event(
        "team",
        {
            "metadata": {"name": "e1"},
            "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "team", "uid": "u1"},
            "reason": "Started",
            "message": "Started container main",
            "type": "Normal",
            "firstTimestamp": "2025-01-01T00:00:00Z",
            "lastTimestamp": "2025-01-01T00:00:05Z",
            "count": 1,
            "source": {"component": "kubelet", "host": "n1"},
        },
    )
    assert event.reason == "Started"
    found = core.list_namespaced_event("team", field_selector="involvedObject.name=p1,involvedObject.uid=u1")
    assert [e.metadata.name for e in found.items] == ["e1"]
    assert core.list_event_for_all_namespaces(field_selector="involvedObject.name=other").items == []
    v1 = client.EventsV1Api(k8s).list_namespaced_event("team")
    (new,) = v1.items
    assert new.note == "Started container main" and new.regarding.name == "p1"
    assert new.reporting_controller == "kubelet" and new.event_time is not None and new.type == "Normal"
    core.delete_namespace("team")
    gone = poll_until(lambda: all(ns.metadata.name != "team" for ns in core.list_namespace().items), 5.0, 0.02)
    assert gone, "the namespace was not removed"
    assert core.list_event_for_all_namespaces().items == []


def test_deployment_crud_generation_validation_and_scale(k8s):
    apps = client.AppsV1Api(k8s)
    dep = apps.create_namespaced_deployment("default", deployment_manifest("web", replicas=2))
    assert dep.metadata.generation == 1 and dep.spec.replicas == 2
    dep = apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 3}})
    assert dep.metadata.generation == 2
    dep = apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"x": "y"}}})
    assert dep.metadata.generation == 2  # metadata changes do not bump it
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 3 and scale.status.selector == "app=web"
    scale = apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 5}})
    assert scale.spec.replicas == 5
    scale.spec.replicas = 1
    assert apps.replace_namespaced_deployment_scale("web", "default", scale).spec.replicas == 1
    assert apps.read_namespaced_deployment("web", "default").metadata.generation == 4
    dep = apps.read_namespaced_deployment("web", "default")
    dep.spec.template.spec.containers[0].image = "kibench/echo:2"
    dep.status = client.V1DeploymentStatus(replicas=99)
    replaced = apps.replace_namespaced_deployment("web", "default", dep)
    assert replaced.metadata.generation == 5 and replaced.status.replicas is None  # status only via /status
    status = apps.patch_namespaced_deployment_status("web", "default", {"status": {"replicas": 1, "readyReplicas": 1}})
    assert status.status.ready_replicas == 1 and status.metadata.generation == 5
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(
            "default", {"metadata": {"name": "bad"}, "spec": {"template": {"metadata": {}}}}
        )
    assert err.value.status == 422 and "spec.selector: Required value" in err.value.body
    apps.delete_namespaced_deployment("web", "default")
    assert apps.list_namespaced_deployment("default").items == []


def test_replicaset_hpa_pdb_crud(k8s):
    apps, auto, policy = client.AppsV1Api(k8s), client.AutoscalingV2Api(k8s), client.PolicyV1Api(k8s)
    rs_body = deployment_manifest("web-abc", replicas=2)
    rs_body["kind"] = "ReplicaSet"
    rs = apps.create_namespaced_replica_set("default", rs_body)
    rs.spec.replicas = 4
    assert apps.replace_namespaced_replica_set("web-abc", "default", rs).spec.replicas == 4
    assert apps.patch_namespaced_replica_set("web-abc", "default", {"spec": {"replicas": 1}}).spec.replicas == 1
    assert [r.metadata.name for r in apps.list_replica_set_for_all_namespaces().items] == ["web-abc"]
    apps.delete_namespaced_replica_set("web-abc", "default")

    hpa = auto.create_namespaced_horizontal_pod_autoscaler(
        "default",
        {
            "metadata": {"name": "web"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "maxReplicas": 5,
                "metrics": [
                    {
                        "type": "Resource",
                        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
                    }  # noqa: E501
                ],
            },
        },
    )
    assert hpa.spec.min_replicas == 1 and hpa.status.desired_replicas == 0
    hpa.spec.max_replicas = 7
    assert auto.replace_namespaced_horizontal_pod_autoscaler("web", "default", hpa).spec.max_replicas == 7
    patched = auto.patch_namespaced_horizontal_pod_autoscaler("web", "default", {"spec": {"minReplicas": 2}})
    assert patched.spec.min_replicas == 2
    assert len(auto.list_horizontal_pod_autoscaler_for_all_namespaces().items) == 1
    auto.delete_namespaced_horizontal_pod_autoscaler("web", "default")

    pdb = policy.create_namespaced_pod_disruption_budget(
        "default",
        {"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}},
    )
    assert pdb.status.disruptions_allowed == 0
    pdb.spec.min_available = 2
    assert policy.replace_namespaced_pod_disruption_budget("web", "default", pdb).spec.min_available == 2
    assert policy.patch_namespaced_pod_disruption_budget("web", "default", {"spec": {"minAvailable": 3}})
    assert [p.metadata.name for p in policy.list_namespaced_pod_disruption_budget("default").items] == ["web"]
    policy.delete_namespaced_pod_disruption_budget("web", "default")


def test_label_and_field_selectors(k8s, api):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod("default", pod_manifest("a", {"app": "web", "tier": "front"}, node="n1"))
    core.create_namespaced_pod("default", pod_manifest("b", {"app": "web", "tier": "back"}))
    core.create_namespaced_pod("default", pod_manifest("c", {"app": "db"}, node="n2"))
    api.call(api.store.mutate, "pods", "default", "c", lambda p: p["status"].update(phase="Running"))

    def names(**kw):
        return [p.metadata.name for p in core.list_pod_for_all_namespaces(**kw).items]

    assert names(label_selector="app=web") == ["a", "b"]
    assert names(label_selector="app==web,tier!=front") == ["b"]
    assert names(label_selector="tier in (front,back)") == ["a", "b"]
    assert names(label_selector="app notin (web)") == ["c"]
    assert names(label_selector="tier") == ["a", "b"] and names(label_selector="!tier") == ["c"]
    assert names(field_selector="spec.nodeName=n1") == ["a"]
    assert names(field_selector="spec.nodeName=") == ["b"]
    assert names(field_selector="status.phase=Running") == ["c"]
    assert names(field_selector="status.phase!=Running,metadata.name!=a") == ["b"]
    assert names(field_selector="metadata.namespace=default", label_selector="app=db") == ["c"]
    with pytest.raises(ApiException) as err:
        names(field_selector="spec.bogus=1")
    assert err.value.status == 400 and "field label not supported: spec.bogus" in err.value.body
    first = core.list_namespaced_pod("default", limit=2)
    assert [p.metadata.name for p in first.items] == ["a", "b"] and first.metadata._continue
    rest = core.list_namespaced_pod("default", limit=2, _continue=first.metadata._continue)
    assert [p.metadata.name for p in rest.items] == ["c"] and not rest.metadata._continue


def test_watch_from_a_resource_version_sees_later_changes_only(k8s, api):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod("default", pod_manifest("before"))
    rv = core.list_namespaced_pod("default").metadata.resource_version
    seen: list[tuple[str, str]] = []
    w = watch.Watch()

    def consume():
        for event in w.stream(core.list_namespaced_pod, "default", resource_version=rv, timeout_seconds=10):
            seen.append((event["type"], event["object"].metadata.name))
            if len(seen) == 3:
                w.stop()

    thread = threading.Thread(target=consume)
    thread.start()  # no wait for it: a watch from a resourceVersion replays what happened after it
    core.create_namespaced_pod("default", pod_manifest("after"))
    api.call(api.store.mutate, "pods", "default", "after", lambda p: p["status"].update(phase="Running"))
    core.delete_namespaced_pod("after", "default")
    thread.join(10)
    assert seen == [("ADDED", "after"), ("MODIFIED", "after"), ("DELETED", "after")]


def test_watch_without_resource_version_lists_first(k8s):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod("default", pod_manifest("p1"))
    events = list(watch.Watch().stream(core.list_namespaced_pod, "default", timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "p1")]


def test_stale_resource_version_is_gone(tmp_path):
    with ThreadedApiServer(Store(watch_buffer=4), token="t") as server:
        server.write_kubeconfig(tmp_path / "kc")
        api_client = config.new_client_from_config(config_file=str(tmp_path / "kc"))
        core = client.CoreV1Api(api_client)
        old_rv = core.list_namespaced_pod("default").metadata.resource_version
        for i in range(6):
            core.create_namespaced_pod("default", pod_manifest(f"p{i}"))
        with pytest.raises(ApiException) as err:
            for _ in watch.Watch().stream(core.list_namespaced_pod, "default", resource_version=old_rv):
                pass
        assert err.value.status == 410
        api_client.close()


def test_eviction_respects_the_disruption_budget(k8s, api):
    core, policy = client.CoreV1Api(k8s), client.PolicyV1Api(k8s)
    for name in ("p1", "p2"):
        core.create_namespaced_pod("default", pod_manifest(name, node="n1"))
        api.call(api.store.mutate, "pods", "default", name, lambda p: p.update(status=running_status()))
    policy.create_namespaced_pod_disruption_budget(
        "default",
        {"metadata": {"name": "web-pdb"}, "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}}},
    )

    def set_budget(allowed: int, healthy: int) -> None:
        def edit(pdb):
            pdb["status"].update(disruptionsAllowed=allowed, currentHealthy=healthy, desiredHealthy=2, expectedPods=2)

        api.call(api.store.mutate, "poddisruptionbudgets.policy", "default", "web-pdb", edit)

    set_budget(0, 2)
    eviction = client.V1Eviction(metadata=client.V1ObjectMeta(name="p1", namespace="default"))
    with pytest.raises(ApiException) as err:
        core.create_namespaced_pod_eviction("p1", "default", eviction)
    assert err.value.status == 429
    assert "Cannot evict pod as it would violate the pod's disruption budget." in err.value.body
    assert "The disruption budget web-pdb needs 2 healthy pods and has 2 currently" in err.value.body

    set_budget(1, 3)
    eviction.delete_options = client.V1DeleteOptions(grace_period_seconds=5)
    core.create_namespaced_pod_eviction("p1", "default", eviction)
    pod = core.read_namespaced_pod("p1", "default")
    assert pod.metadata.deletion_timestamp is not None and pod.metadata.deletion_grace_period_seconds == 5
    assert policy.read_namespaced_pod_disruption_budget("web-pdb", "default").status.disruptions_allowed == 0


def test_graceful_delete_of_a_bound_pod_then_the_kubelet_removes_it(k8s, api):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod("default", pod_manifest("p1", node="n1", terminationGracePeriodSeconds=20))
    pod = core.delete_namespaced_pod("p1", "default")
    assert pod.metadata.deletion_timestamp is not None and pod.metadata.deletion_grace_period_seconds == 20
    pod = core.delete_namespaced_pod("p1", "default", grace_period_seconds=3)
    assert pod.metadata.deletion_grace_period_seconds == 3
    pod = core.delete_namespaced_pod("p1", "default", grace_period_seconds=10)
    assert pod.metadata.deletion_grace_period_seconds == 3  # a longer grace never extends it
    assert api.call(api.store.remove, "pods", "default", "p1")["metadata"]["name"] == "p1"
    assert core.list_namespaced_pod("default").items == []


def test_deleting_an_owner_cascades_unless_orphaned(k8s, api):
    apps, core = client.AppsV1Api(k8s), client.CoreV1Api(k8s)
    dep = apps.create_namespaced_deployment("default", deployment_manifest("web"))
    owner = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": dep.metadata.uid, "controller": True}
    ]
    rs_body = deployment_manifest("web-1")
    rs_body["kind"], rs_body["metadata"]["ownerReferences"] = "ReplicaSet", owner
    rs = apps.create_namespaced_replica_set("default", rs_body)
    rs_owner = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": rs.metadata.uid, "controller": True}
    ]
    for name in ("web-1-a", "web-1-b"):
        body = pod_manifest(name)
        body["metadata"]["ownerReferences"] = rs_owner
        core.create_namespaced_pod("default", body)
    apps.delete_namespaced_deployment("web", "default")

    def dependents() -> list[object]:
        return core.list_namespaced_pod("default").items + apps.list_namespaced_replica_set("default").items

    assert poll_until(lambda: not dependents(), 5.0, 0.02), "dependents were not deleted"

    rs = apps.create_namespaced_replica_set("default", {**deployment_manifest("solo"), "kind": "ReplicaSet"})
    body = pod_manifest("solo-a")
    body["metadata"]["ownerReferences"] = [
        {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "solo", "uid": rs.metadata.uid}
    ]  # noqa: E501
    core.create_namespaced_pod("default", body)
    apps.delete_namespaced_replica_set("solo", "default", propagation_policy="Orphan")
    orphaned = poll_until(lambda: core.read_namespaced_pod("solo-a", "default").metadata.owner_references is None, 5)
    assert orphaned, "the orphaned pod kept its owner reference"


def test_pod_logs(k8s, api):
    core = client.CoreV1Api(k8s)
    core.create_namespaced_pod("default", pod_manifest("p1"))
    api.log_file("default", "p1", "main").write_text("one\ntwo\n2025-01-01T00:00:00.5Z three\n")
    assert core.read_namespaced_pod_log("p1", "default") == "one\ntwo\n2025-01-01T00:00:00.5Z three\n"
    assert core.read_namespaced_pod_log("p1", "default", tail_lines=1) == "2025-01-01T00:00:00.5Z three\n"
    assert core.read_namespaced_pod_log("p1", "default", limit_bytes=6) == "one\ntw"
    stamped = core.read_namespaced_pod_log("p1", "default", timestamps=True).splitlines()
    assert stamped[0].endswith("Z one") and stamped[2] == "2025-01-01T00:00:00.5Z three"
    recent = core.read_namespaced_pod_log("p1", "default", since_seconds=60).splitlines()
    assert recent == ["one", "two"]  # the dated line is old; the others carry the file's recent mtime
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("p1", "default", previous=True)
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        core.read_namespaced_pod_log("p1", "default", container="nope")
    assert err.value.status == 400


def test_json_patch_and_merge_patch(k8s):
    apps = client.AppsV1Api(k8s)
    apps.create_namespaced_deployment("default", deployment_manifest("web"))
    dep = apps.patch_namespaced_deployment(
        "web",
        "default",
        [
            {"op": "replace", "path": "/spec/replicas", "value": 4},
            {"op": "add", "path": "/metadata/labels/x", "value": "1"},
        ],  # noqa: E501
    )
    assert dep.spec.replicas == 4 and dep.metadata.labels["x"] == "1"
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment("web", "default", [{"op": "test", "path": "/spec/replicas", "value": 9}])
    assert err.value.status == 422
    dep = apps.patch_namespaced_deployment(
        "web",
        "default",
        {"spec": {"template": {"spec": {"containers": [{"name": "side", "image": "side:1"}]}}}},
    )
    assert [c.name for c in dep.spec.template.spec.containers] == ["main", "side"]  # strategic: merged by name
    dep = k8s.call_api(
        "/apis/apps/v1/namespaces/default/deployments/web",
        "PATCH",
        header_params={"Content-Type": "application/merge-patch+json", "Accept": "application/json"},
        body={"spec": {"template": {"spec": {"containers": [{"name": "only", "image": "only:1"}]}}}},
        response_type="V1Deployment",
        auth_settings=["BearerToken"],
        _return_http_data_only=True,
    )
    assert [c.name for c in dep.spec.template.spec.containers] == ["only"]  # merge patch: the list is replaced
