"""The guard (harness/platform/kubernetes/guard.py) against the bare embedded API server: it creates objects
stamped with the run's label, and never creates over, changes or deletes an object that is not the run's."""

from __future__ import annotations

import pytest
from kubernetes import client, config

from harness.errors import ClusterRefused, PlatformError
from harness.platform.kubernetes import scope
from harness.platform.kubernetes.guard import Guard
from harness.platform.local.apiserver.kubeconfig import write_kubeconfig

LABEL = "20261202-050000-guard-ab12"


def deployment(name: str, labels: dict[str, str] | None = None) -> dict:
    pod_labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": pod_labels},
            "template": {"metadata": {"labels": pod_labels}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    }


@pytest.fixture
def team(bare):
    """Namespace ``team`` with a Deployment ``web`` that is not the run's."""
    with bare.api() as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "team"}})
        client.AppsV1Api(api).create_namespaced_deployment("team", deployment("web", {"owner": "alice"}))
    return bare


def test_create_stamps_the_run_labels_on_the_object_and_its_pod_template(bare):
    with bare.api() as api:
        guard = Guard(api, "default", LABEL)
        guard.create(deployment("mine"))
        dep = client.AppsV1Api(api).read_namespaced_deployment("mine", "default")
    assert dep.metadata.labels[scope.RUN_LABEL] == LABEL
    assert dep.metadata.labels[scope.MANAGED_LABEL] == "kibench"
    assert dep.spec.template.metadata.labels[scope.RUN_LABEL] == LABEL
    assert dep.spec.selector.match_labels == {"app": "mine"}  # the selector is left as rendered


def test_another_s_object_is_neither_created_over_changed_nor_deleted(team):
    with team.api() as api:
        before = client.AppsV1Api(api).read_namespaced_deployment("web", "team")
        guard = Guard(api, "team", LABEL)
        with pytest.raises(ClusterRefused, match=r"refused to create Deployment team/web: it does not carry"):
            guard.create(deployment("web"))
        with pytest.raises(ClusterRefused, match="refused to change Deployment team/web"):
            guard.change("Deployment", "web", {"spec": {"replicas": 0}}, subresource="scale")
        with pytest.raises(ClusterRefused, match="refused to delete Deployment team/web"):
            guard.delete("Deployment", "web")
        assert guard.remove("Deployment", "web") == "foreign"
        after = client.AppsV1Api(api).read_namespaced_deployment("web", "team")
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.metadata.labels == {"owner": "alice"}


def test_preflight_names_every_conflict_and_creates_nothing(team):
    rv = team.resource_version()
    with team.api() as api:
        guard = Guard(api, "team", LABEL)
        with pytest.raises(ClusterRefused) as refused:
            guard.preflight([deployment("web"), deployment("free")])
        assert guard.conflicts([deployment("free")]) == []
    assert "Deployment team/web" in str(refused.value) and "nothing was created" in str(refused.value)
    assert refused.value.exit_code == 2
    assert team.resource_version() == rv


def test_another_run_s_object_is_named_with_how_to_remove_it(team):
    with team.api() as api:
        Guard(api, "team", "other-run").create(deployment("left"))
        with pytest.raises(ClusterRefused, match=r"another kibench run \(kibench.io/run-id=other-run"):
            Guard(api, "team", LABEL).create(deployment("left"))


def test_the_run_s_own_objects_are_changed_and_deleted_with_a_uid_precondition(bare):
    with bare.api() as api:
        guard = Guard(api, "default", LABEL)
        guard.create(deployment("mine"))
        assert guard.create(deployment("mine"))["metadata"]["name"] == "mine"  # a retry finds its own object
        guard.change("Deployment", "mine", {"spec": {"replicas": 3}}, subresource="scale")
        assert client.AppsV1Api(api).read_namespaced_deployment("mine", "default").spec.replicas == 3
        assert guard.remove("Deployment", "mine") == "deleted"
        assert guard.get("Deployment", "mine") is None
        assert guard.remove("Deployment", "mine") == "absent"
        with pytest.raises(PlatformError, match="does not exist"):
            guard.delete("Deployment", "mine")


def test_nodes_are_the_cluster_s_unless_the_run_owns_the_cluster(bare):
    with bare.api() as api:
        client.CoreV1Api(api).create_node({"metadata": {"name": "n1"}})
        with pytest.raises(ClusterRefused, match="nodes belong to the cluster"):
            Guard(api, "default", LABEL).change("Node", "n1", {"spec": {"unschedulable": True}})
        Guard(api, "default", LABEL, owns_cluster=True).change("Node", "n1", {"spec": {"unschedulable": True}})
        assert client.CoreV1Api(api).read_node("n1").spec.unschedulable is True


def test_an_unreachable_api_server_is_a_platform_error(tmp_path):
    path = tmp_path / "kubeconfig"
    write_kubeconfig(path, "https://127.0.0.1:9", "token")  # nothing listens on port 9
    with config.new_client_from_config(config_file=str(path)) as api, pytest.raises(PlatformError, match="answer"):
        Guard(api, "default", LABEL).get("Deployment", "x")
