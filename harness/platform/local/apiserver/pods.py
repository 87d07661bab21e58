"""The pod subresources with behaviour of their own: ``eviction`` (PodDisruptionBudgets) and ``log``.

In: the store, the pod's namespace and name, and the request (an Eviction body; log query parameters and
``log_path(namespace, pod, container) -> str | None``, the daemon's map to a container's log file).
Out: ``evict`` deletes the pod gracefully and returns a 201 ``Status`` or raises ``ApiError`` 429
(``Cannot evict pod as it would violate the pod's disruption budget.``, cause ``DisruptionBudget``);
``read_log`` returns the log text (and where a ``follow=true`` answer goes on).

Eviction follows kube-apiserver: a pod already terminating or finished is deleted without looking at budgets.
For each PodDisruptionBudget whose ``spec.selector`` matches the pod: a not-Ready pod passes when the budget says
``unhealthyPodEvictionPolicy: AlwaysAllow`` or ``currentHealthy >= desiredHealthy > 0``; otherwise the pod needs
``status.disruptionsAllowed > 0``, which the eviction then decrements (and records in ``disruptedPods``).
The budget's status is the disruption controller's to compute; ``observedGeneration`` is not checked.

Logs: ``previous=true`` reads ``<path>.previous``.  ``timestamps=true`` keeps a line that starts with an RFC 3339
timestamp and prefixes the others with the file's modification time, which is also what ``sinceSeconds`` /
``sinceTime`` compare for lines without a timestamp.  ``follow=true`` goes on with what the container writes
until it is no longer running (``logstream.py`` streams it).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from harness.platform.local.apiserver import deletion
from harness.platform.local.apiserver.errors import ApiError, bad_request, success_status
from harness.platform.local.apiserver.selectors import selector_from_object
from harness.platform.local.apiserver.store import Store
from harness.platform.local.apiserver.timefmt import parse_rfc3339, rfc3339_micro

LogPath = Callable[[str, str, str | None], str | None]
PDB = "poddisruptionbudgets.policy"
_TIMESTAMP = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) ")


def is_ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def evict(store: Store, namespace: str, name: str, body: Any) -> dict[str, Any]:
    """POST …/pods/{name}/eviction (policy/v1, policy/v1beta1 or no apiVersion at all, as chaosk8s sends)."""
    body = body or {}
    if not isinstance(body, dict) or body.get("kind") not in (None, "", "Eviction"):
        raise bad_request("the body of an eviction must be an Eviction object")
    body_name = (body.get("metadata") or {}).get("name")
    if body_name and body_name != name:
        raise bad_request(f"name in URL does not match name in Eviction object: {name} != {body_name}")
    options = body.get("deleteOptions") or {}
    dry_run = bool(options.get("dryRun"))
    pod = store.entry("pods", namespace, name).obj
    finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
    if not finished and not pod["metadata"].get("deletionTimestamp"):
        charge = _check_budgets(store, namespace, pod)
        if not dry_run:
            for pdb_name in charge:
                store.mutate_entry(PDB, namespace, pdb_name, lambda pdb: _decrement(pdb, name, store.now()))
    if not dry_run:
        deletion.delete(
            store, "pods", namespace, name, options.get("gracePeriodSeconds"), None, options.get("preconditions")
        )
    return success_status(201)


def _check_budgets(store: Store, namespace: str, pod: dict[str, Any]) -> list[str]:
    """The budgets this eviction spends a disruption of; 429 when one of them has none to spend."""
    labels, ready, charge = pod["metadata"].get("labels") or {}, is_ready(pod), []
    for entry in store.entries(PDB, namespace):
        pdb = entry.obj
        spec, status = pdb.get("spec") or {}, pdb.get("status") or {}
        selector = selector_from_object(spec.get("selector"))
        if selector is None or not selector.matches(labels):
            continue
        healthy, desired = int(status.get("currentHealthy", 0)), int(status.get("desiredHealthy", 0))
        if not ready and (spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow" or healthy >= desired > 0):
            continue
        if int(status.get("disruptionsAllowed", 0)) <= 0:
            name = pdb["metadata"]["name"]
            raise ApiError(
                429,
                "TooManyRequests",
                "Cannot evict pod as it would violate the pod's disruption budget.",
                {
                    "causes": [
                        {
                            "reason": "DisruptionBudget",
                            "message": f"The disruption budget {name} needs {desired} healthy pods "
                            f"and has {healthy} currently",
                        }
                    ]
                },
            )
        charge.append(pdb["metadata"]["name"])
    return charge


def _decrement(pdb: dict[str, Any], pod_name: str, now: str) -> None:
    status = pdb.setdefault("status", {})
    status["disruptionsAllowed"] = int(status.get("disruptionsAllowed", 0)) - 1
    status.setdefault("disruptedPods", {})[pod_name] = now


# --- logs ------------------------------------------------------------------------------------------------------


def _int_param(query: dict[str, str], key: str, minimum: int) -> int | None:
    raw = query.get(key)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"{key}: {raw!r} is not an integer") from None
    if value < minimum:
        raise ApiError(422, "Invalid", f"{key}: Invalid value: {value}: must be greater than or equal to {minimum}")
    return value


def _container(pod: dict[str, Any], wanted: str | None) -> str:
    spec = pod.get("spec") or {}
    names = [c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])]
    pod_name = pod["metadata"]["name"]
    if wanted:
        if wanted not in names:
            raise bad_request(f"container {wanted} is not valid for pod {pod_name}")
        return wanted
    default = (pod["metadata"].get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    main = [c.get("name") for c in spec.get("containers") or []]
    if default in main:
        return str(default)
    if len(main) == 1:
        return str(main[0])
    raise bad_request(f"a container name must be specified for pod {pod_name}, choose one of: [{' '.join(main)}]")


def read_log(
    store: Store,
    log_path: LogPath | None,
    namespace: str,
    name: str,
    query: dict[str, str],
    parse_bool: Callable[[str | None], bool],
) -> tuple[bytes, str, int]:
    """GET …/pods/{name}/log: the container's log cut as the query asks, the file it came from and how many
    bytes of it were read (where a ``follow=true`` answer goes on)."""
    pod = store.entry("pods", namespace, name).obj
    container = _container(pod, query.get("container"))
    tail, limit = _int_param(query, "tailLines", 0), _int_param(query, "limitBytes", 1)
    since_s = _int_param(query, "sinceSeconds", 1)
    if since_s is not None and query.get("sinceTime"):
        raise bad_request("at most one of sinceTime or sinceSeconds may be specified")
    cutoff = store.clock() - since_s if since_s is not None else parse_rfc3339(query.get("sinceTime"))
    path = log_path(namespace, name, container) if log_path is not None else None
    previous = parse_bool(query.get("previous"))
    if path is not None and previous:
        path += ".previous"
    try:
        with open(path or "", "rb") as fh:
            data, mtime = fh.read(), os.fstat(fh.fileno()).st_mtime
    except OSError:
        what = "previous terminated container" if previous else "container"
        raise ApiError(404, "NotFound", f'the log of {what} "{container}" in pod "{name}" is not available') from None
    lines = data.splitlines(keepends=True)
    stamp = rfc3339_micro(mtime).encode()
    if cutoff is not None:
        lines = [line for line in lines if _line_time(line, mtime) >= cutoff]
    if tail is not None:
        lines = lines[-tail:] if tail else []
    if parse_bool(query.get("timestamps")):
        lines = [line if _TIMESTAMP.match(line) else stamp + b" " + line for line in lines]
    out = b"".join(lines)
    return (out[:limit] if limit is not None else out), path or "", len(data)


def container_running(store: Store, namespace: str, name: str) -> bool:
    """Whether the pod's container is running now (a ``follow`` ends when it is not: it ended, or the pod went)."""
    found = store.find("pods", namespace, name)
    if found is None:
        return False
    statuses = (found.obj.get("status") or {}).get("containerStatuses") or []
    return any("running" in (c.get("state") or {}) for c in statuses)


def _line_time(line: bytes, mtime: float) -> float:
    m = _TIMESTAMP.match(line)
    t = parse_rfc3339(m.group(1).decode()) if m else None
    return mtime if t is None else t
