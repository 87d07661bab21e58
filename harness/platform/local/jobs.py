"""The embedded cluster's Job controller (``batch/v1``), as kube-controller-manager's job controller behaves.

In: Job and Pod objects.  Out, each sync, for every Job that is not finished or being deleted:

- pods: while fewer than ``parallelism`` pods are active, none is terminating, and ``succeeded + active <
  completions``, a pod is
  created from the template (named ``<job>-<5 chars>``, owner reference with ``controller: true``, the
  template's labels, which carry ``batch.kubernetes.io/job-name`` and ``controller-uid``); Event
  ``SuccessfulCreate``.  A pod counts once finished: ``Succeeded`` or ``Failed`` (its phase, written by the
  kubelet when a ``restartPolicy: Never`` container ends; with ``OnFailure`` a failed container restarts in
  the same pod and counts as failed only by its restarts); a pod removed before it finished counts as
  failed.  Each pod is counted once, also after it is gone (what a cluster's job-tracking finalizer does);
- status: ``active``, ``ready``, ``succeeded``, ``failed``, ``startTime``, ``terminating``; when ``succeeded``
  reaches ``completions``: conditions ``SuccessCriteriaMet`` and ``Complete`` and ``completionTime``
  (Event ``Completed``); when failures exceed ``backoffLimit`` (``BackoffLimitExceeded``) or
  ``activeDeadlineSeconds`` passes (``DeadlineExceeded``): ``FailureTarget`` and ``Failed``, and the active
  pods are deleted.

Not done here: Indexed completion, ``podFailurePolicy``, ``successPolicy``, suspend, the back-off delay
between retries, and ``ttlSecondsAfterFinished`` (the TTL controller); finished Jobs stay until deleted.
"""

from __future__ import annotations

import copy
import secrets
import time
from typing import TYPE_CHECKING, Any

from harness.platform.local.objects import (
    PODS,
    Obj,
    condition,
    controller_of,
    owner_ref,
    parse_time,
    pod_ready,
    rfc3339,
    set_condition,
)

if TYPE_CHECKING:
    from harness.platform.local.cluster import Cluster

JOBS = "jobs.batch"
_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def finished(job: Obj) -> bool:
    """Whether the Job has its final condition (``Complete`` or ``Failed``)."""
    return any((condition(job, t) or {}).get("status") == "True" for t in ("Complete", "Failed"))


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _restarts(pod: Obj) -> int:
    return sum(int(c.get("restartCount", 0)) for c in (pod.get("status") or {}).get("containerStatuses") or [])


class Jobs:
    """The Job controller over the cluster's store."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.store = cluster.store
        # What a cluster's job-tracking finalizer keeps: each pod counted once, also after it is removed.
        self._counted: dict[str, dict[str, str]] = {}  # job uid -> pod uid -> Succeeded | Failed
        self._live: dict[str, set[str]] = {}  # job uid -> its pods' uids at the last sync

    def sync(self) -> None:
        pods = self.store.list(PODS, copy=False)[0]
        for job in self.store.list(JOBS, copy=False)[0]:
            if not job["metadata"].get("deletionTimestamp") and not finished(job):
                self._job(job, pods)

    def _job(self, job: Obj, pods: list[Obj]) -> None:
        meta, spec = job["metadata"], job["spec"]
        mine = [p for p in pods if (controller_of(p) or {}).get("uid") == meta["uid"]]
        counted = self._counted.setdefault(meta["uid"], {})
        for pod in mine:
            if _phase(pod) in ("Succeeded", "Failed"):
                counted.setdefault(pod["metadata"]["uid"], _phase(pod))
        present = {p["metadata"]["uid"] for p in mine}
        for uid in self._live.get(meta["uid"], set()) - present:
            counted.setdefault(uid, "Failed")  # removed before it finished (deleted, evicted, its node lost)
        self._live[meta["uid"]] = present
        ended = ("Succeeded", "Failed")
        active = [p for p in mine if _phase(p) not in ended and not p["metadata"].get("deletionTimestamp")]
        terminating = [p for p in mine if p["metadata"].get("deletionTimestamp") and _phase(p) not in ended]
        succeeded = sum(1 for phase in counted.values() if phase == "Succeeded")
        failed = sum(1 for phase in counted.values() if phase == "Failed") + sum(_restarts(p) for p in active)
        completions, parallelism = int(spec.get("completions") or 1), int(spec.get("parallelism", 1))
        started = (job.get("status") or {}).get("startTime") or rfc3339()
        verdict: tuple[str, str, str] | None = None
        if succeeded >= completions:
            verdict = ("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
        elif failed > int(spec.get("backoffLimit", 6)):
            verdict = ("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        elif spec.get("activeDeadlineSeconds") is not None and time.time() - (
            parse_time(started) or time.time()
        ) > float(spec["activeDeadlineSeconds"]):
            verdict = ("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        if verdict is not None and verdict[0] == "Failed":
            for pod in active:
                self.cluster.delete_pod(pod)
            active = []
        elif verdict is None and not terminating:  # podReplacementPolicy TerminatingOrFailed: wait for them
            for _ in range(min(parallelism - len(active), completions - succeeded - len(active))):
                active.append(self._create_pod(job))
        self._status(job, active, terminating, succeeded, failed, started, verdict)

    def _create_pod(self, job: Obj) -> Obj:
        meta = job["metadata"]
        template = copy.deepcopy(job["spec"]["template"])
        spec = template.get("spec") or {}
        spec.setdefault("volumes", [])
        suffix = "".join(_SAFE[b % len(_SAFE)] for b in secrets.token_bytes(5))
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": f"{meta['name']}-{suffix}",
                "namespace": meta["namespace"],
                "labels": dict((template.get("metadata") or {}).get("labels") or {}),
                "annotations": dict((template.get("metadata") or {}).get("annotations") or {}),
                "ownerReferences": [owner_ref(job)],
            },
            "spec": spec,
        }
        created = dict(self.store.create(PODS, meta["namespace"], pod))
        message = f"Created pod: {created['metadata']['name']}"
        self.cluster.recorder.record(job, "SuccessfulCreate", message, component="job-controller")
        return created

    def _status(
        self,
        job: Obj,
        active: list[Obj],
        terminating: list[Obj],
        succeeded: int,
        failed: int,
        started: str,
        verdict: tuple[str, str, str] | None,
    ) -> None:
        def fn(obj: Obj) -> None:
            status: dict[str, Any] = obj.setdefault("status", {})
            status.update(
                active=len(active),
                ready=sum(1 for p in active if pod_ready(p)),
                succeeded=succeeded,
                failed=failed,
                terminating=len(terminating),
                startTime=started,
            )
            status["uncountedTerminatedPods"] = {}
            if verdict is None:
                return
            kind, reason, message = verdict
            first = "SuccessCriteriaMet" if kind == "Complete" else "FailureTarget"
            set_condition(status, first, True, reason, message, lastProbeTime=rfc3339())
            set_condition(status, kind, True, reason, message, lastProbeTime=rfc3339())
            if kind == "Complete":
                status["completionTime"] = rfc3339()

        new = self.store.mutate(JOBS, job["metadata"]["namespace"], job["metadata"]["name"], fn)
        if verdict is not None and new is not None:
            kind, reason, message = verdict
            warn = "Warning" if kind == "Failed" else "Normal"
            self.cluster.recorder.record(new, "Completed" if kind == "Complete" else reason, message, warn,
                                         component="job-controller")  # fmt: skip
