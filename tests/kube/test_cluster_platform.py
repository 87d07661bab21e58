"""ClusterPlatform (platform.kind kubernetes) on the bare API server: the namespace it makes or requires, what it
refuses, and that clean-up removes what it made after a failed deploy and nothing else."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from harness.errors import ClusterRefused, PlatformTimeout
from harness.platform.kubernetes import scope
from harness.platform.kubernetes.cluster import ClusterPlatform

from .conftest import scenario_on
from .test_guard import deployment

RUN_ID = "20261202-050000-guard-c0de"


def namespaces(bare) -> dict[str, dict]:
    with bare.api() as api:
        return {n.metadata.name: n.metadata.labels or {} for n in client.CoreV1Api(api).list_namespace().items}


def test_a_named_namespace_must_exist(bare):
    platform = ClusterPlatform(scenario_on(bare.kubeconfig, namespace="nowhere"), RUN_ID, time.monotonic())
    with pytest.raises(ClusterRefused, match="namespace 'nowhere' does not exist; create it"):
        platform.deploy()
    platform.teardown()
    assert "nowhere" not in namespaces(bare)


def test_a_foreign_deployment_of_the_same_name_is_refused_and_left_untouched(bare):
    with bare.api() as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "team"}})
        client.AppsV1Api(api).create_namespaced_deployment("team", deployment("guard-svc", {"owner": "alice"}))
    rv = bare.resource_version()
    platform = ClusterPlatform(scenario_on(bare.kubeconfig, namespace="team"), RUN_ID, time.monotonic())
    with pytest.raises(ClusterRefused) as refused:
        platform.deploy()
    platform.teardown()
    assert "refused to create Deployment team/guard-svc" in str(refused.value)
    assert bare.resource_version() == rv  # nothing was created, changed or deleted


def test_a_failed_deploy_still_deletes_the_run_s_own_namespace(bare):
    # The bare API server runs no controllers: no pod ever becomes Ready, so deploy fails after creating everything.
    platform = ClusterPlatform(scenario_on(bare.kubeconfig, ready_timeout=0.5), RUN_ID, time.monotonic())
    assert platform.namespace == scope.run_namespace(RUN_ID)
    with pytest.raises(PlatformTimeout):
        platform.deploy()
    labels = namespaces(bare)[platform.namespace]
    assert labels[scope.RUN_LABEL] == RUN_ID and labels[scope.MANAGED_LABEL] == "kibench"
    with bare.api() as api:
        made = client.AppsV1Api(api).list_namespaced_deployment(platform.namespace).items
    assert [d.metadata.labels[scope.RUN_LABEL] for d in made] == [RUN_ID]
    platform.teardown()
    assert platform.namespace not in namespaces(bare)
    platform.teardown()  # idempotent


def test_keep_leaves_the_namespace(bare):
    platform = ClusterPlatform(scenario_on(bare.kubeconfig, ready_timeout=0.5), RUN_ID, time.monotonic(), keep=True)
    with pytest.raises(PlatformTimeout):
        platform.deploy()
    platform.teardown()
    assert platform.namespace in namespaces(bare)


def test_in_a_named_namespace_clean_up_deletes_the_run_s_objects_and_nothing_else(bare):
    with bare.api() as api:
        client.CoreV1Api(api).create_namespace({"metadata": {"name": "team"}})
        client.AppsV1Api(api).create_namespaced_deployment("team", deployment("alices", {"owner": "alice"}))
    platform = ClusterPlatform(scenario_on(bare.kubeconfig, namespace="team", ready_timeout=0.5), RUN_ID,
                               time.monotonic())  # fmt: skip
    with pytest.raises(PlatformTimeout):
        platform.deploy()
    with bare.api() as api:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        assert {d.metadata.name for d in apps.list_namespaced_deployment("team").items} == {"alices", "guard-svc"}
        platform.teardown()
        assert [d.metadata.name for d in apps.list_namespaced_deployment("team").items] == ["alices"]
        assert core.list_namespaced_secret("team").items == [] and core.list_namespaced_service("team").items == []
    assert "team" in namespaces(bare)  # a named namespace is never deleted
