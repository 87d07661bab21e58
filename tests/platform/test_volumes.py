"""What the embedded kubelet mounts for a pod: ConfigMap, Secret and emptyDir volumes under the pod's root,
the service account's token files and the in-cluster API variables, as a kubelet does."""

from __future__ import annotations

import base64
import os

import pytest

from harness.platform.kubernetes.incluster import container_path
from harness.platform.local.volumes import ApiAddress, MountError, container_env, mount


def pod(**spec):
    container = {
        "name": "c",
        "image": "i",
        "volumeMounts": [
            {"name": "cfg", "mountPath": "/etc/kibench"},
            {"name": "out", "mountPath": "/var/out"},
            {"name": "sec", "mountPath": "/etc/secret"},
        ],
    }
    volumes = [
        {"name": "cfg", "configMap": {"name": "cm"}},
        {"name": "out", "emptyDir": {}},
        {"name": "sec", "secret": {"secretName": "s", "items": [{"key": "token", "path": "t/tok"}]}},
    ]
    return {
        "metadata": {"name": "p", "namespace": "team"},
        "spec": {"containers": [container], "volumes": volumes, **spec},
    }


OBJECTS = {
    "cm": {"data": {"scenario.yaml": "name: x\n"}},
    "s": {"data": {"token": base64.b64encode(b"secret!").decode(), "other": ""}},
    "runner": {"metadata": {"name": "runner"}},
}


def read(ns, name):
    return OBJECTS.get(name)


def test_volumes_and_the_service_account_are_mounted_under_the_pods_root(tmp_path, monkeypatch):
    root = str(tmp_path / "root")
    api = ApiAddress("127.0.0.1", 6443, b"CA")
    env = mount(pod(serviceAccountName="runner"), root, read, read, read, lambda ns, sa: f"tok-{ns}-{sa}", api)
    assert (tmp_path / "root/etc/kibench/scenario.yaml").read_text() == "name: x\n"
    assert (tmp_path / "root/etc/secret/t/tok").read_bytes() == b"secret!"
    assert not (tmp_path / "root/etc/secret/other").exists()  # items: only the keys named
    assert (tmp_path / "root/var/out").is_dir()
    sa = tmp_path / "root/var/run/secrets/kubernetes.io/serviceaccount"
    assert (sa / "token").read_text() == "tok-team-runner" and (sa / "namespace").read_text() == "team"
    assert (env["KUBERNETES_SERVICE_HOST"], env["KUBERNETES_SERVICE_PORT"]) == ("127.0.0.1", "6443")
    monkeypatch.setenv("KIBENCH_CONTAINER_ROOT", env["KIBENCH_CONTAINER_ROOT"])
    assert container_path("/etc/kibench/scenario.yaml") == os.path.join(root, "etc/kibench/scenario.yaml")


def test_a_missing_source_or_account_is_a_mount_error_and_no_account_means_no_token(tmp_path):
    api = ApiAddress("127.0.0.1", 6443, b"CA")
    with pytest.raises(MountError, match='serviceaccount "ghost" not found'):
        mount(pod(serviceAccountName="ghost"), str(tmp_path / "a"), read, read, read, lambda *a: "t", api)
    with pytest.raises(MountError, match='configmap "cm" not found'):
        mount(pod(), str(tmp_path / "b"), lambda ns, n: None, read, read, lambda *a: "t", api)
    env = mount(pod(), str(tmp_path / "c"), read, read, read, lambda *a: "t", api)
    assert "KUBERNETES_SERVICE_HOST" not in env and not (tmp_path / "c/var/run").exists()


def test_a_container_does_not_inherit_what_points_at_the_machines_cluster():
    env = container_env({"KUBECONFIG": "/home/me/.kube/config", "KUBERNETES_SERVICE_HOST": "10.0.0.1", "PATH": "/bin"})
    assert env == {"PATH": "/bin"}
