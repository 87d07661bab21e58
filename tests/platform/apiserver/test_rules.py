"""Selectors, patches, tables and time formats: the pure rules under the API."""

from __future__ import annotations

import pytest

from harness.platform.local.apiserver import ApiError, protobuf
from harness.platform.local.apiserver.patches import apply_patch
from harness.platform.local.apiserver.podstatus import pod_status
from harness.platform.local.apiserver.selectors import (
    format_label_selector,
    parse_field_selector,
    parse_label_selector,
)
from harness.platform.local.apiserver.timefmt import human_duration

SMP = "application/strategic-merge-patch+json"


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("app=web", {"app": "web"}, True),
        ("app==web,tier!=db", {"app": "web", "tier": "db"}, False),
        ("tier notin (db, cache)", {}, True),
        ("tier in (db,cache)", {"tier": "cache"}, True),
        ("!canary", {"canary": "1"}, False),
        ("example.com/team", {"example.com/team": ""}, True),
        ("gen>3", {"gen": "4"}, True),
        ("", {"x": "y"}, True),
    ],
)
def test_label_selectors(selector, labels, expected):
    assert parse_label_selector(selector).matches(labels) is expected


@pytest.mark.parametrize("bad", ["app in web", "a=(b", "=x", "app=web,", "!a=b", "bad key=1", "a=b c"])
def test_bad_label_selectors_are_400(bad):
    with pytest.raises(ApiError) as err:
        parse_label_selector(bad)
    assert err.value.code == 400


def test_field_selectors_and_selector_strings():
    pod = {"metadata": {"name": "p", "namespace": "ns"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}}
    assert parse_field_selector("pods", "spec.nodeName=n1,status.phase!=Pending").matches(pod)
    assert not parse_field_selector("pods", "metadata.name==q").matches(pod)
    assert parse_field_selector("nodes", "spec.unschedulable=false").matches({"metadata": {}, "spec": {}})
    with pytest.raises(ApiError):
        parse_field_selector("deployments.apps", "spec.nodeName=n1")
    spec = {
        "matchLabels": {"b": "2", "a": "1"},
        "matchExpressions": [{"key": "c", "operator": "In", "values": ["y", "x"]}],
    }  # noqa: E501
    assert format_label_selector(spec) == "a=1,b=2,c in (x,y)"


def test_merge_and_strategic_merge_patches():
    obj = {
        "metadata": {"labels": {"a": "1", "b": "2"}},
        "spec": {
            "containers": [
                {"name": "main", "image": "v1", "env": [{"name": "X", "value": "1"}], "ports": [{"containerPort": 80}]},
                {"name": "side", "image": "s1"},
            ],
            "finalizers": ["f1"],
        },
    }
    merged = apply_patch(obj, {"metadata": {"labels": {"a": None, "c": "3"}}}, "application/merge-patch+json")
    assert merged["metadata"]["labels"] == {"b": "2", "c": "3"} and obj["metadata"]["labels"]["a"] == "1"
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "main",
                    "image": "v2",
                    "env": [{"name": "Y", "value": "2"}],
                    "ports": [{"containerPort": 80, "name": "http"}],
                },  # noqa: E501
                {"name": "side", "$patch": "delete"},
            ],
            "finalizers": ["f2"],
            "$setElementOrder/containers": [{"name": "main"}],
        }
    }
    smp = apply_patch(obj, patch, SMP + "; charset=utf-8")
    (main,) = smp["spec"]["containers"]
    assert main["image"] == "v2" and [e["name"] for e in main["env"]] == ["X", "Y"]
    assert main["ports"] == [{"containerPort": 80, "name": "http"}] and smp["spec"]["finalizers"] == ["f1", "f2"]
    assert "$setElementOrder/containers" not in smp["spec"]
    replaced = apply_patch(obj, {"spec": {"containers": [{"$patch": "replace"}, {"name": "only"}]}}, SMP)
    assert replaced["spec"]["containers"] == [{"name": "only"}]


def test_json_patch_operations():
    doc = {"a": {"b": [1, 2]}, "c": "x"}
    ops = [
        {"op": "add", "path": "/a/b/-", "value": 3},
        {"op": "add", "path": "/a/b/0", "value": 0},
        {"op": "move", "from": "/c", "path": "/d"},
        {"op": "copy", "from": "/a/b", "path": "/e"},
        {"op": "replace", "path": "/a/b/1", "value": 9},
        {"op": "remove", "path": "/e/0"},
        {"op": "test", "path": "/d", "value": "x"},
        {"op": "add", "path": "/k~1v", "value": True},
    ]
    assert apply_patch(doc, ops, "application/json-patch+json") == {
        "a": {"b": [0, 9, 2, 3]},
        "d": "x",
        "e": [1, 2, 3],
        "k/v": True,
    }  # noqa: E501
    for bad in (
        [{"op": "remove", "path": "/zz"}],
        [{"op": "test", "path": "/c", "value": "y"}],
        [{"op": "replace", "path": "/a/b/7", "value": 1}],
    ):  # noqa: E501
        with pytest.raises(ApiError) as err:
            apply_patch(doc, bad, "application/json-patch+json")
        assert err.value.code == 422
    with pytest.raises(ApiError) as err:
        apply_patch(doc, [{"op": "jump", "path": "/a"}], "application/json-patch+json")
    assert err.value.code == 400


def test_pod_status_column_and_ages():
    def pod(**status):
        return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c"}]}, "status": status}

    waiting = {"name": "c", "state": {"waiting": {"reason": "ErrImagePull"}}, "restartCount": 2}
    assert pod_status(pod(phase="Pending", containerStatuses=[waiting]), 0)[0] == "ErrImagePull"
    creating = {"name": "c", "state": {"waiting": {"reason": "ContainerCreating"}}}
    assert pod_status(pod(phase="Pending", containerStatuses=[creating]), 0)[0] == "ContainerCreating"
    term = {"name": "c", "state": {"terminated": {"exitCode": 137, "signal": 9}}}
    assert pod_status(pod(phase="Failed", containerStatuses=[term]), 0)[0] == "Signal:9"
    restarted = {
        "name": "c", "ready": True, "restartCount": 3, "state": {"running": {}},
        "lastState": {"terminated": {"finishedAt": "2025-01-01T00:00:00Z"}},
    }  # fmt: skip
    status, ready, restarts = pod_status(pod(phase="Running", containerStatuses=[restarted]), 1735689600 + 300)
    assert (status, ready, restarts) == ("Running", 1, "3 (5m ago)")
    assert [human_duration(s) for s in (5, 119, 150, 600, 3 * 3600 + 60, 30 * 3600, 3 * 86400 + 3600, 400 * 86400)] == [
        "5s", "119s", "2m30s", "10m", "3h1m", "30h", "3d1h", "400d"]  # fmt: skip


def _pb(number: int, value: bytes | int) -> bytes:
    """One protobuf field (varint or length-delimited), enough to build the bodies kubectl sends."""

    def varint(n: int) -> bytes:
        out = b""
        while True:
            out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
            n >>= 7
            if not n:
                return out

    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def test_protobuf_eviction_and_delete_options():
    meta = _pb(1, b"web-1-a") + _pb(2, b"") + _pb(3, b"default") + _pb(11, _pb(1, b"app") + _pb(2, b"web"))
    options = _pb(1, 7) + _pb(4, b"Background") + _pb(2, _pb(1, b"uid-1"))
    raw = _pb(1, meta) + _pb(2, options)
    body = b"k8s\x00" + _pb(1, _pb(1, b"policy/v1") + _pb(2, b"Eviction")) + _pb(2, raw)
    assert protobuf.decode(body) == {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": "web-1-a", "namespace": "default", "labels": {"app": "web"}},
        "deleteOptions": {
            "gracePeriodSeconds": 7,
            "propagationPolicy": "Background",
            "preconditions": {"uid": "uid-1"},
        },
    }
    deployment = b"k8s\x00" + _pb(1, _pb(1, b"apps/v1") + _pb(2, b"Deployment")) + _pb(2, b"")
    with pytest.raises(ApiError) as err:
        protobuf.decode(deployment)
    assert err.value.code == 415
    with pytest.raises(ApiError) as err:
        protobuf.decode(b"k8s\x00\x0a\xff")
    assert err.value.code == 400
