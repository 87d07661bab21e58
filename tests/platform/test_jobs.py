"""The embedded Job controller over a real API store (no kubelet: the test writes the pods' phases as a
kubelet would): one pod, Complete on success, Failed past backoffLimit, a pod removed before it ended counts as
failed (and is not replaced while it terminates)."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

from harness.platform.local.apiserver import Store
from harness.platform.local.apiserver.errors import ApiError
from harness.platform.local.jobs import JOBS, Jobs, finished
from harness.platform.local.objects import PODS, condition
from harness.platform.local.recorder import EventRecorder


def controller(backoff_limit: int = 0) -> tuple[Jobs, Store]:
    store = Store()
    with contextlib.suppress(ApiError):
        store.create("namespaces", None, {"metadata": {"name": "team"}})
    template = {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "kibench"}]}}
    store.create(
        JOBS, "team", {"metadata": {"name": "run"}, "spec": {"backoffLimit": backoff_limit, "template": template}}
    )
    cluster = SimpleNamespace(store=store, recorder=EventRecorder(store), delete_pod=lambda pod: None)
    return Jobs(cluster), store  # type: ignore[arg-type]


def pods(store: Store) -> list[dict]:
    return store.list(PODS, "team")[0]


def set_phase(store: Store, name: str, phase: str) -> None:
    store.mutate(PODS, "team", name, lambda p: p.setdefault("status", {}).update(phase=phase))


def test_one_pod_then_complete_when_it_succeeds():
    jobs, store = controller()
    jobs.sync()
    jobs.sync()
    (pod,) = pods(store)
    assert pod["metadata"]["labels"]["batch.kubernetes.io/job-name"] == "run"
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "Job"
    set_phase(store, pod["metadata"]["name"], "Succeeded")
    jobs.sync()
    job = store.get(JOBS, "team", "run")
    assert finished(job) and condition(job, "Complete")["status"] == "True"
    assert job["status"]["succeeded"] == 1 and len(pods(store)) == 1


def test_a_pod_removed_before_it_ended_is_a_failure_and_not_replaced_with_backoff_limit_0():
    jobs, store = controller(backoff_limit=0)
    jobs.sync()
    (pod,) = pods(store)
    name = pod["metadata"]["name"]
    store.mutate(PODS, "team", name, lambda p: p["metadata"].update(deletionTimestamp="2026-12-02T00:00:00Z"))
    jobs.sync()
    assert len(pods(store)) == 1  # terminating: not replaced yet
    store.remove(PODS, "team", name)
    jobs.sync()
    job = store.get(JOBS, "team", "run")
    assert pods(store) == [] and condition(job, "Failed")["reason"] == "BackoffLimitExceeded"
    assert job["status"]["failed"] == 1


def test_a_failed_pod_is_retried_up_to_the_backoff_limit():
    jobs, store = controller(backoff_limit=1)
    jobs.sync()
    set_phase(store, pods(store)[0]["metadata"]["name"], "Failed")
    jobs.sync()
    assert len(pods(store)) == 2 and not finished(store.get(JOBS, "team", "run"))
    second = next(p for p in pods(store) if p["status"].get("phase") != "Failed")
    set_phase(store, second["metadata"]["name"], "Failed")
    jobs.sync()
    assert condition(store.get(JOBS, "team", "run"), "Failed")["status"] == "True" and len(pods(store)) == 2
