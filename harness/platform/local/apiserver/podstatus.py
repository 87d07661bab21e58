"""What ``kubectl get pods`` shows for one pod, computed as kube-apiserver's pod printer computes it.

In: a Pod and the time now.  Out: ``pod_status`` (STATUS: ``Terminating`` once ``deletionTimestamp`` is set, else
an init container's state (``Init:1/2``, ``Init:CrashLoopBackOff``), else the last container's waiting or
terminated reason (``CrashLoopBackOff``, ``ErrImagePull``, ``ContainerCreating``, ``Completed``, ``Signal:9``),
else the phase; the ready-container count; RESTARTS with ``(5m ago)`` after the last restart) and ``pod_row``
(the cells of NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES).
"""

from __future__ import annotations

from typing import Any

from harness.platform.local.apiserver.timefmt import age, human_duration, parse_rfc3339


def _or_none(value: Any) -> Any:
    return value if value not in (None, "", []) else "<none>"


def _init_reason(pod: dict[str, Any]) -> str | None:
    statuses = (pod.get("status") or {}).get("initContainerStatuses") or []
    total = len((pod.get("spec") or {}).get("initContainers") or [])
    for i, st in enumerate(statuses):
        state = st.get("state") or {}
        term, wait = state.get("terminated"), state.get("waiting")
        if term is not None and term.get("exitCode", 0) == 0:
            continue
        if term is not None:
            if term.get("reason"):
                return "Init:" + term["reason"]
            return f"Init:Signal:{term['signal']}" if term.get("signal") else f"Init:ExitCode:{term.get('exitCode')}"
        if wait and wait.get("reason") and wait["reason"] != "PodInitializing":
            return "Init:" + wait["reason"]
        return f"Init:{i}/{total}"
    return None


def pod_status(pod: dict[str, Any], now: float) -> tuple[str, int, str]:
    """(STATUS, ready containers, RESTARTS) as kubectl shows them."""
    status = pod.get("status") or {}
    phase = status.get("phase") or ""
    reason = status.get("reason") or phase
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("reason") == "SchedulingGated":
            reason = "SchedulingGated"
    restarts, ready, last_restart = 0, 0, 0.0
    restarts += sum(int(s.get("restartCount") or 0) for s in status.get("initContainerStatuses") or [])
    init = _init_reason(pod)
    if init is not None:
        reason = init
    else:
        running = False
        for st in reversed(status.get("containerStatuses") or []):
            restarts += int(st.get("restartCount") or 0)
            finished = parse_rfc3339(((st.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))
            last_restart = max(last_restart, finished or 0.0)
            state = st.get("state") or {}
            wait, term = state.get("waiting") or {}, state.get("terminated")
            if wait.get("reason"):
                reason = wait["reason"]
            elif term is not None and term.get("reason"):
                reason = term["reason"]
            elif term is not None:
                reason = f"Signal:{term['signal']}" if term.get("signal") else f"ExitCode:{term.get('exitCode', 0)}"
            elif st.get("ready") and state.get("running") is not None:
                running = True
                ready += 1
        if reason == "Completed" and running:
            ready_cond = any(
                c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []
            )
            reason = "Running" if ready_cond else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            reason = "Unknown"
        elif phase not in ("Succeeded", "Failed"):
            reason = "Terminating"
    shown = str(restarts)
    if restarts and last_restart:
        shown = f"{restarts} ({human_duration(now - last_restart)} ago)"
    return reason, ready, shown


def pod_row(pod: dict[str, Any], now: float) -> list[Any]:
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    reason, ready, restarts = pod_status(pod, now)
    total = len(spec.get("containers") or [])
    ips = status.get("podIPs") or []
    ip = (ips[0].get("ip") if ips else None) or status.get("podIP")
    gates = spec.get("readinessGates") or []
    gates_cell = "<none>"
    if gates:
        true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        gates_cell = f"{sum(g.get('conditionType') in true for g in gates)}/{len(gates)}"
    return [
        pod["metadata"]["name"],
        f"{ready}/{total}",
        reason,
        restarts,
        age(pod["metadata"].get("creationTimestamp"), now),
        _or_none(ip),
        _or_none(spec.get("nodeName")),
        _or_none(status.get("nominatedNodeName")),
        gates_cell,
    ]
