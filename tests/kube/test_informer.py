"""The driver's informer against the embedded API server: an expired watch relists, ``stop()`` ends a watch at once."""

from __future__ import annotations

import threading

import pytest
from kubernetes import client, config

from harness.platform.kubernetes import informer as informer_module
from harness.platform.kubernetes.informer import Informer
from harness.platform.local.apiserver import Store, ThreadedApiServer
from harness.procs import poll_until
from tests.platform.apiserver.manifests import pod_manifest


@pytest.fixture
def core(tmp_path):
    with ThreadedApiServer(Store(watch_buffer=3), token="t") as server:
        server.write_kubeconfig(tmp_path / "kc")
        api_client = config.new_client_from_config(config_file=str(tmp_path / "kc"))
        yield client.CoreV1Api(api_client)
        api_client.close()


def test_a_watch_from_an_expired_version_relists(core):
    """kube-apiserver says 410 as an ERROR event inside a 200 watch stream; the client's own ``Watch`` raised
    KeyError on it when not deserialising, and the informer retried the same version for ever."""
    old_rv = core.list_namespaced_pod("default").metadata.resource_version
    for i in range(5):  # more pod changes than the server's history of 3
        core.create_namespaced_pod("default", pod_manifest(f"p{i}"))
    seen: list[tuple[str, str]] = []

    def record(kind, old, new):
        seen.append((kind, (new or old)["metadata"]["name"]))

    informer = Informer("pods", core.list_namespaced_pod, record, namespace="default")
    informer.resource_version = old_rv  # as if its last watch ended before the five creations
    informer.start()
    try:
        assert informer.synced.wait(10), informer.error
        assert sorted(informer.cache) == [f"p{i}" for i in range(5)]
        assert sorted(seen) == [("ADDED", f"p{i}") for i in range(5)]
    finally:
        informer.stop()


def test_stop_ends_a_long_watch_at_once(core, monkeypatch):
    monkeypatch.setattr(informer_module, "WATCH_TIMEOUT_S", 60)  # the server would hold this watch a minute
    informer = Informer("pods", core.list_namespaced_pod, lambda t, o, n: None, namespace="default").start()
    assert informer.synced.wait(10)
    assert poll_until(lambda: informer._response is not None, 10, 0.01)  # the watch is open
    informer.stop(wait=False)
    threads = {t.name: t for t in threading.enumerate()}
    thread = threads.get("informer-pods")
    if thread is not None:
        thread.join(timeout=10)  # a sixth of the watch's minute: only the socket's shutdown ends it this soon
        assert not thread.is_alive()
    assert informer.error is None or "Protocol" in informer.error or "Connection" in informer.error
