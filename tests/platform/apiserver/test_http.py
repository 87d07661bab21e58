"""Raw HTTP against the embedded API server: bad clients, discovery, watch streams, Tables, odd bodies."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest

from harness.platform.local.apiserver.tls import client_context
from tests.platform.apiserver.conftest import TOKEN
from tests.platform.apiserver.manifests import deployment_manifest, pod_manifest, running_status

TABLE = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io"


@pytest.fixture
def http(api):
    with httpx.Client(base_url=api.url, verify=client_context(api.server.ca_pem), timeout=10) as client:
        client.headers["Authorization"] = f"Bearer {TOKEN}"
        yield client


def _status(response: httpx.Response, code: int, reason: str) -> dict:
    assert response.status_code == code, response.text
    body = response.json()
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == code
    assert body["reason"] == reason, body
    return body


def test_the_token_is_required_bare_or_bearer(api, http):
    bare = httpx.get(api.url + "/api/v1/pods", verify=client_context(api.server.ca_pem))
    _status(bare, 401, "Unauthorized")
    wrong = httpx.get(
        api.url + "/healthz", headers={"Authorization": "Bearer nope"}, verify=client_context(api.server.ca_pem)
    )
    _status(wrong, 401, "Unauthorized")
    plain = httpx.get(
        api.url + "/api/v1/pods", headers={"Authorization": TOKEN}, verify=client_context(api.server.ca_pem)
    )
    assert plain.status_code == 200 and plain.json()["kind"] == "PodList"


def test_bad_requests_are_4xx_statuses(http):
    _status(http.post("/api/v1/namespaces/default/pods", content=b"{not json"), 400, "BadRequest")
    _status(http.post("/api/v1/namespaces/default/pods", json=[1, 2]), 400, "BadRequest")
    _status(http.get("/api/v1/widgets"), 404, "NotFound")
    _status(http.get("/apis/example.com/v1/things"), 404, "NotFound")
    _status(http.get("/api/v2"), 404, "NotFound")
    _status(http.get("/api/v1/pods", params={"labelSelector": "app in web"}), 400, "BadRequest")
    _status(http.get("/api/v1/pods", params={"labelSelector": "a=(b"}), 400, "BadRequest")
    _status(http.get("/api/v1/pods", params={"fieldSelector": "spec.nope=1"}), 400, "BadRequest")
    _status(http.get("/api/v1/pods", params={"watch": "maybe"}), 400, "BadRequest")
    _status(
        http.post("/api/v1/namespaces/default/pods", content=b"x" * (10 * 1024 * 1024)), 413, "RequestEntityTooLarge"
    )
    _status(http.put("/api/v1/namespaces/default/pods", json={}), 405, "MethodNotAllowed")
    _status(http.request("OPTIONS", "/api/v1/namespaces/default/pods"), 405, "MethodNotAllowed")
    _status(http.post("/api/v1/pods", json=pod_manifest("x")), 405, "MethodNotAllowed")
    _status(http.post("/apis/events.k8s.io/v1/namespaces/default/events", json={}), 405, "MethodNotAllowed")
    _status(http.delete("/api/v1/namespaces/default"), 403, "Forbidden")
    _status(http.get("/openapi/v2"), 404, "NotFound")
    _status(http.get("/openapi/v3"), 404, "NotFound")
    http.post("/api/v1/namespaces/default/pods", json=pod_manifest("p1"))
    apply = http.patch(
        "/api/v1/namespaces/default/pods/p1",
        content=b"metadata: {}",
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert "server-side apply" in _status(apply, 415, "UnsupportedMediaType")["message"]
    odd = http.patch("/api/v1/namespaces/default/pods/p1", json={}, headers={"Content-Type": "text/csv"})
    _status(odd, 415, "UnsupportedMediaType")
    bad_pod = http.post("/api/v1/namespaces/default/pods", json={"metadata": {"name": "nospec"}})
    assert "spec.containers: Required value" in _status(bad_pod, 422, "Invalid")["message"]
    bad_name = http.post("/api/v1/namespaces/default/pods", json=pod_manifest("Bad_Name"))
    _status(bad_name, 422, "Invalid")
    bad_labels = http.post("/api/v1/namespaces/default/pods", json=pod_manifest("p9", labels={"n": 8}))
    _status(bad_labels, 400, "BadRequest")


def test_discovery_and_version(http):
    assert http.get("/healthz").text == "ok" and http.get("/readyz").text == "ok" and http.get("/livez").text == "ok"
    version = http.get("/version").json()
    assert set(version) == {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate", "goVersion",
                            "compiler", "platform"}  # fmt: skip
    core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["namespaced"] is True
    assert core["pods/eviction"]["group"] == "policy" and core["pods/eviction"]["version"] == "v1"
    assert core["pods/eviction"]["kind"] == "Eviction" and "pods/log" in core and "pods/status" in core
    assert core["nodes"]["namespaced"] is False and core["namespaces"]["shortNames"] == ["ns"]
    groups = {g["name"]: g for g in http.get("/apis").json()["groups"]}
    assert set(groups) == {
        "apps", "autoscaling", "batch", "policy", "events.k8s.io", "rbac.authorization.k8s.io", "metrics.k8s.io",
        "autoscaling.k8s.io",
    }  # fmt: skip
    assert groups["policy"]["preferredVersion"]["version"] == "v1"
    apps = {r["name"]: r for r in http.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments/scale"]["group"] == "autoscaling" and apps["deployments/scale"]["version"] == "v1"
    assert apps["replicasets"]["shortNames"] == ["rs"] and "deployments/status" in apps
    assert [r["name"] for r in http.get("/apis/policy/v1beta1").json()["resources"]] == ["poddisruptionbudgets"]
    assert http.get("/apis/autoscaling/v2").json()["resources"][0]["shortNames"] == ["hpa"]


def test_tables_for_get_list_and_include_object(http, api):
    http.post("/api/v1/namespaces/default/pods", json=pod_manifest("p1", node="n1"))
    api.call(api.store.mutate, "pods", "default", "p1", lambda p: p.update(status=running_status()))
    table = http.get("/api/v1/namespaces/default/pods/p1", headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table" and [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name", "Ready", "Status", "Restarts", "Age"]  # fmt: skip
    (row,) = table["rows"]
    assert row["cells"][:4] == ["p1", "1/1", "Running", "0"] and row["object"]["kind"] == "PartialObjectMetadata"
    full = http.get("/api/v1/pods", params={"includeObject": "Object"}, headers={"Accept": TABLE}).json()
    assert full["rows"][0]["object"]["kind"] == "Pod" and full["metadata"]["resourceVersion"]
    waiting = running_status(ready=False)
    waiting["containerStatuses"][0]["state"] = {"waiting": {"reason": "CrashLoopBackOff"}}
    api.call(api.store.mutate, "pods", "default", "p1", lambda p: p.update(status=waiting))
    assert http.get("/api/v1/pods", headers={"Accept": TABLE}).json()["rows"][0]["cells"][2] == "CrashLoopBackOff"
    http.delete("/api/v1/namespaces/default/pods/p1")
    assert http.get("/api/v1/pods", headers={"Accept": TABLE}).json()["rows"][0]["cells"][2] == "Terminating"
    empty = http.get("/apis/apps/v1/deployments", headers={"Accept": TABLE}).json()
    assert empty["rows"] == [] and [c["name"] for c in empty["columnDefinitions"]][:5] == [
        "Name", "Ready", "Up-to-date", "Available", "Age"]  # fmt: skip
    plain = http.get("/apis/apps/v1/deployments").json()
    assert plain == {"kind": "DeploymentList", "apiVersion": "apps/v1", "metadata": plain["metadata"], "items": []}


def _watch_lines(http, path, params, stop_after=None, headers=None, on_open=None):
    lines, thread = [], threading.Thread(target=on_open or (lambda: None))
    with http.stream("GET", path, params=params, headers=headers or {}, timeout=15) as response:
        assert response.status_code == 200
        thread.start()
        for line in response.iter_lines():
            if line:
                lines.append(json.loads(line))
            if stop_after is not None and len(lines) >= stop_after:
                break
    thread.join(10)
    return lines


def test_watch_stream_timeout_bookmarks_and_table_rows(http, api):
    http.post("/api/v1/namespaces/default/pods", json=pod_manifest("p1"))
    events = _watch_lines(
        http, "/api/v1/namespaces/default/pods", {"watch": "1", "timeoutSeconds": "1", "allowWatchBookmarks": "true"}
    )  # noqa: E501
    assert events[0]["type"] == "ADDED" and events[0]["object"]["metadata"]["name"] == "p1"
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks and set(bookmarks[0]["object"]["metadata"]) == {"resourceVersion"}
    rv = http.get("/api/v1/pods").json()["metadata"]["resourceVersion"]

    def change():  # whenever it lands, the watch from resourceVersion rv replays it: no wait needed
        api.call(api.store.mutate, "pods", "default", "p1", lambda p: p["status"].update(phase="Running"))

    rows = _watch_lines(http, "/api/v1/pods", {"watch": "True", "resourceVersion": rv}, 1, {"Accept": TABLE}, change)
    assert rows[0]["type"] == "MODIFIED" and rows[0]["object"]["kind"] == "Table"
    assert rows[0]["object"]["rows"][0]["cells"][:3] == ["p1", "0/1", "Running"]


def test_watch_gone_and_selector_transitions(tmp_path):
    from harness.platform.local.apiserver import Store, ThreadedApiServer

    with ThreadedApiServer(Store(watch_buffer=3), token=TOKEN) as server:
        headers = {"Authorization": TOKEN}
        with httpx.Client(base_url=server.url, verify=client_context(server.ca_pem), headers=headers) as http:
            for i in range(5):
                http.post("/api/v1/namespaces/default/pods", json=pod_manifest(f"p{i}"))
            (error,) = _watch_lines(http, "/api/v1/pods", {"watch": "true", "resourceVersion": "1"})
            assert error["type"] == "ERROR" and error["object"]["code"] == 410 and error["object"]["reason"] == "Gone"
            rv = http.get("/api/v1/pods").json()["metadata"]["resourceVersion"]

            def relabel():  # the watch starts from rv: it sees the change whenever it lands
                http.patch("/api/v1/namespaces/default/pods/p1", json={"metadata": {"labels": {"app": "db"}}},
                           headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip

            params = {"watch": "true", "resourceVersion": rv, "labelSelector": "app=web"}
            (gone,) = _watch_lines(http, "/api/v1/pods", params, 1, on_open=relabel)
            assert gone["type"] == "DELETED" and gone["object"]["metadata"]["name"] == "p1"


def test_watches_end_cleanly_at_shutdown(tmp_path):
    from harness.platform.local.apiserver import ThreadedApiServer

    server = ThreadedApiServer(token=TOKEN).start()
    http = httpx.Client(base_url=server.url, verify=client_context(server.ca_pem), headers={"Authorization": TOKEN})
    threading.Timer(0.3, server.stop).start()
    started = time.time()
    events = _watch_lines(http, "/api/v1/namespaces", {"watch": "true"})
    assert [e["type"] for e in events] == ["ADDED"] and time.time() - started < 5
    http.close()


def test_pod_delete_bodies_and_evictions_from_every_client(http, api):
    for name in ("p1", "p2", "p3"):
        http.post("/api/v1/namespaces/default/pods", json=pod_manifest(name, node="n1"))
    protobuf = http.request("DELETE", "/api/v1/namespaces/default/pods/p1", content=b"k8s\x00\n\x0c\n\x02v1")
    assert protobuf.status_code == 200 and protobuf.json()["metadata"]["deletionGracePeriodSeconds"] == 30
    quick = http.request("DELETE", "/api/v1/namespaces/default/pods/p1", json={"gracePeriodSeconds": 0})
    assert quick.status_code == 200 and http.get("/api/v1/namespaces/default/pods/p1").status_code == 404
    chaosk8s = {"metadata": {"name": "p2", "namespace": "default"}, "deleteOptions": {}}
    assert http.post("/api/v1/namespaces/default/pods/p2/eviction", json=chaosk8s).json()["status"] == "Success"
    old = {
        "apiVersion": "policy/v1beta1",
        "kind": "Eviction",
        "metadata": {"name": "p3"},
        "deleteOptions": {"gracePeriodSeconds": 7},
    }  # noqa: E501
    response = http.post("/api/v1/namespaces/default/pods/p3/eviction", json=old)
    assert response.status_code == 201
    assert http.get("/api/v1/namespaces/default/pods/p3").json()["metadata"]["deletionGracePeriodSeconds"] == 7
    _status(http.post("/api/v1/namespaces/default/pods/ghost/eviction", json={}), 404, "NotFound")


def test_events_view_and_node_delete_status(http, api):
    event = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default"},
        "reason": "Killing",
        "message": "Stopping container main",
        "type": "Normal",
        "reportingComponent": "kubelet",
        "eventTime": "2025-01-01T00:00:00.123456Z",
    }
    assert http.post("/api/v1/namespaces/default/events", json=event).status_code == 201
    view = http.get("/apis/events.k8s.io/v1/namespaces/default/events", params={"fieldSelector": "regarding.name=p1"})
    (item,) = view.json()["items"]
    assert view.json()["kind"] == "EventList" and item["apiVersion"] == "events.k8s.io/v1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", item["eventTime"])
    assert item["note"] == "Stopping container main" and item["reportingController"] == "kubelet"
    http.post("/api/v1/nodes", json={"metadata": {"name": "n1"}})
    deleted = http.delete("/api/v1/nodes/n1").json()
    assert deleted["kind"] == "Status" and deleted["status"] == "Success"
    http.post("/apis/apps/v1/namespaces/default/deployments", json=deployment_manifest("web"))
    scale = http.patch("/apis/apps/v1/namespaces/default/deployments/web/scale", json={"spec": {"replicas": 6}},
                       headers={"Content-Type": "application/merge-patch+json"})  # fmt: skip
    assert scale.json()["kind"] == "Scale" and scale.json()["spec"]["replicas"] == 6


def test_deletecollection_status_and_scale_subresources(http):
    for name, app in (("a", "web"), ("b", "web"), ("c", "db")):
        http.post("/api/v1/namespaces/default/pods", json=pod_manifest(name, {"app": app}))
    deleted = http.delete("/api/v1/namespaces/default/pods", params={"labelSelector": "app=web"}).json()
    assert deleted["kind"] == "PodList" and [p["metadata"]["name"] for p in deleted["items"]] == ["a", "b"]
    assert [p["metadata"]["name"] for p in http.get("/api/v1/pods").json()["items"]] == ["c"]
    one = http.get("/api/v1/pods", params={"fieldSelector": "metadata.name=c,metadata.namespace=default"}).json()
    assert [p["metadata"]["name"] for p in one["items"]] == ["c"]
    status = http.get("/api/v1/namespaces/default/status").json()
    assert status["kind"] == "Namespace" and status["status"]["phase"] == "Active"
    rs = {**deployment_manifest("web-1"), "kind": "ReplicaSet"}
    assert http.post("/apis/apps/v1/namespaces/default/replicasets", json=rs).status_code == 201
    scale = http.get("/apis/apps/v1/namespaces/default/replicasets/web-1/scale").json()
    scale["spec"]["replicas"] = 0
    assert (
        http.put("/apis/apps/v1/namespaces/default/replicasets/web-1/scale", json=scale).json()["spec"]["replicas"] == 0
    )
    scale["spec"]["replicas"] = -1
    _status(http.put("/apis/apps/v1/namespaces/default/replicasets/web-1/scale", json=scale), 409, "Conflict")
    del scale["metadata"]["resourceVersion"]
    _status(http.put("/apis/apps/v1/namespaces/default/replicasets/web-1/scale", json=scale), 422, "Invalid")
    _status(http.post("/apis/apps/v1/namespaces/default/replicasets/web-1/scale", json=scale), 405, "MethodNotAllowed")
