"""Chaos Toolkit actions against the local platform, named and shaped like chaostoolkit-kubernetes.

In: chaosk8s-style arguments plus the experiment ``configuration`` (injected by chaoslib; it holds
``kibench_api_url``).  Out: a JSON-able dict naming what was touched (``pods`` / ``nodes``), which
the journal keeps and the harness turns into ``chaos_action`` events.  Every target comes from the
daemon's ``GET /state`` (see ``targets``), so an action touches only its own platform.

Mirrors chaosk8s: terminate_pods, delete_pods (pod.actions), drain_nodes, cordon_node, uncordon_node,
delete_nodes (node.actions), scale_deployment, rollout_deployment (deployment.actions).  Local only:
fail_node (hard node loss), hang_pods, inject_latency, inject_errors, reset_faults (the reference
service's admin API).  ``ns`` and ``secrets`` are accepted for compatibility; the local platform has
one namespace and needs no credentials.
"""

from __future__ import annotations

import random
import time
from typing import Any

from chaoslib.exceptions import ActivityFailed

from harness.chaos import interrupt
from harness.chaos.local import targets
from harness.chaos.local.client import admin_post, admin_token, connect

Config = dict[str, Any] | None


def _need(items: list[dict[str, Any]], what: str) -> list[dict[str, Any]]:
    if not items:
        raise ActivityFailed(f"no {what} matched; check label_selector / name_pattern against GET /state")
    return items


def terminate_pods(
    label_selector: str | None = None,
    name_pattern: str | None = None,
    all: bool = False,
    rand: bool = False,
    mode: str = "fixed",
    qty: int = 1,
    grace_period: int = -1,
    ns: str = "default",
    order: str = "alphabetic",
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Delete pods (SIGTERM, grace, SIGKILL); the ReplicaSet replaces them.  ``grace_period`` -1: the default."""
    api = connect(configuration)
    state = api.state()
    chosen = targets.pick(_need(targets.pods(state, label_selector, name_pattern), "pod"), all, rand, mode, qty, order)
    grace = None if grace_period is None or float(grace_period) < 0 else float(grace_period)
    for pod in chosen:
        api.post(f"/pods/{pod['name']}/kill", {"grace_period_s": grace})
    return {"pods": targets.names(chosen), "grace_period_s": grace}


def delete_pods(
    name: str | None = None,
    ns: str = "default",
    label_selector: str | None = None,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Delete the pod called ``name``, or every pod matching ``label_selector``."""
    api = connect(configuration)
    state = api.state()
    chosen = [targets.pod_named(state, name)] if name else _need(targets.pods(state, label_selector), "pod")
    for pod in chosen:
        api.post(f"/pods/{pod['name']}/kill", {})
    return {"pods": targets.names(chosen)}


def _chosen_nodes(
    state: dict[str, Any], name: str | None, label_selector: str | None, count: int | None, rand: bool = True
) -> list[dict[str, Any]]:
    chosen = _need(targets.nodes(state, name, label_selector), "node")
    if count is not None:
        count = min(int(count), len(chosen))
        chosen = random.sample(chosen, count) if rand else sorted(chosen, key=lambda n: str(n["name"]))[:count]
    return chosen


def drain_nodes(
    name: str | None = None,
    label_selector: str | None = None,
    delete_pods_with_local_storage: bool = False,
    timeout: int = 120,
    count: int | None = None,
    pod_label_selector: str | None = None,
    pod_namespace: str | None = None,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Cordon and evict every pod of the chosen nodes (honouring the PDB); waits up to ``timeout`` s."""
    api = connect(configuration)
    chosen = targets.names(_chosen_nodes(api.state(), name, label_selector, count))
    for node in chosen:
        api.post(f"/nodes/{node}/drain", {})
    deadline = time.monotonic() + float(timeout)
    remaining: list[str] = []
    for _ in range(int(float(timeout) / 0.25) + 2):
        state = api.state()
        remaining = [p["name"] for p in state.get("replicas", []) if p.get("node") in chosen]
        if not remaining or time.monotonic() >= deadline or interrupt.interrupted():
            break
        interrupt.sleep(0.25)
    return {"nodes": chosen, "drained": not remaining, "remaining_pods": remaining}


def cordon_node(
    name: str | None = None, label_selector: str | None = None, configuration: Config = None, secrets: Any = None
) -> dict[str, Any]:
    """Mark nodes unschedulable."""
    return _node_verb("cordon", name, label_selector, configuration)


def uncordon_node(
    name: str | None = None, label_selector: str | None = None, configuration: Config = None, secrets: Any = None
) -> dict[str, Any]:
    """Mark nodes schedulable again (the usual rollback of cordon_node and drain_nodes)."""
    return _node_verb("uncordon", name, label_selector, configuration)


def _node_verb(verb: str, name: str | None, label_selector: str | None, configuration: Config) -> dict[str, Any]:
    api = connect(configuration)
    chosen = targets.names(_chosen_nodes(api.state(), name, label_selector, None))
    for node in chosen:
        api.post(f"/nodes/{node}/{verb}", {})
    return {"nodes": chosen}


def delete_nodes(
    label_selector: str | None = None,
    all: bool = False,
    rand: bool = False,
    count: int | None = None,
    grace_period_seconds: int | None = None,
    pod_label_selector: str | None = None,
    pod_namespace: str | None = None,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Remove nodes for good: every node matched (``all``) or ``count`` of them (default 1)."""
    api = connect(configuration)
    state = api.state()
    chosen = _chosen_nodes(state, None, label_selector, None if all else (count or 1), rand)
    for node in targets.names(chosen):
        api.delete(f"/nodes/{node}")
    return {"nodes": targets.names(chosen)}


def fail_node(
    name: str | None = None,
    label_selector: str | None = None,
    rand: bool = True,
    count: int = 1,
    duration: float | None = None,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Hard node loss: its pods die at once; the node returns after ``duration`` s (never when None)."""
    api = connect(configuration)
    state = api.state()
    chosen = _chosen_nodes(state, name, label_selector, None if name else count, rand)
    node_names = targets.names(chosen)
    pods = [p["name"] for p in state.get("replicas", []) if p.get("node") in node_names]
    for node in node_names:
        api.post(f"/nodes/{node}/fail", {"duration_s": None if duration is None else float(duration)})
    return {"nodes": node_names, "pods": pods, "duration_s": duration}


def scale_deployment(
    name: str | None = None,
    replicas: int | None = None,
    ns: str = "default",
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Set the desired replicas (``name`` may be omitted: the local platform runs one deployment)."""
    if replicas is None or int(replicas) < 0:
        raise ActivityFailed(f"scale_deployment needs replicas >= 0 (got {replicas!r})")
    api = connect(configuration)
    deployment = targets.check_deployment(api.state(), name)
    api.post("/scale", {"replicas": int(replicas)})
    return {"deployment": deployment, "replicas": int(replicas)}


def rollout_deployment(
    name: str | None = None,
    ns: str = "default",
    service: dict[str, Any] | None = None,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Rolling update (maxSurge/maxUnavailable); ``service`` patches the service section (empty: a restart)."""
    api = connect(configuration)
    deployment = targets.check_deployment(api.state(), name)
    answer = api.post("/rollout", {"service": dict(service or {})})
    return {"deployment": deployment, "rollout": answer}


def _admin_targets(
    state: dict[str, Any], label_selector: str | None, name_pattern: str | None, ready_only: bool
) -> list[dict[str, Any]]:
    found = [
        p
        for p in targets.pods(state, label_selector, name_pattern)
        if p.get("port") and (p.get("ready") if ready_only else p.get("phase") not in ("Pending", "Terminating"))
    ]
    return _need(found, "running pod")


def hang_pods(
    label_selector: str | None = None,
    name_pattern: str | None = None,
    all: bool = False,
    rand: bool = False,
    mode: str = "fixed",
    qty: int = 1,
    duration: float | None = None,
    ns: str = "default",
    order: str = "alphabetic",
    wait_for_restart: float = 0,
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Make Ready replicas stop answering (liveness included) for ``duration`` s (None: until restarted).

    ``wait_for_restart`` > 0: then wait up to that many seconds until the platform has restarted
    (liveness) or replaced every hung pod; ``restarted`` lists those it did."""
    api = connect(configuration)
    state = api.state()
    token = admin_token(state)
    chosen = targets.pick(_admin_targets(state, label_selector, name_pattern, True), all, rand, mode, qty, order)
    for pod in chosen:
        admin_post(pod, token, "hang", {"duration_s": duration}, timeout_s=1.0)
    restarted = _wait_restarted(api, chosen, float(wait_for_restart)) if wait_for_restart else []
    return {"pods": targets.names(chosen), "duration_s": duration, "restarted": restarted}


def _wait_restarted(api: Any, pods: list[dict[str, Any]], timeout_s: float) -> list[str]:
    """Names of ``pods`` whose restart count went up (or that are gone) within ``timeout_s``."""
    before = {str(p["name"]): int(p.get("restarts", 0)) for p in pods}
    deadline = time.monotonic() + timeout_s
    done: set[str] = set()
    for _ in range(int(timeout_s / 0.25) + 2):
        now = {str(p["name"]): p for p in api.state().get("replicas", [])}
        done = {n for n, r in before.items() if n not in now or int(now[n].get("restarts", 0)) > r}
        if done == set(before) or time.monotonic() >= deadline or interrupt.interrupted():
            break
        interrupt.sleep(0.25)
    return sorted(done)


def inject_latency(
    add_ms: float,
    duration: float | None = None,
    label_selector: str | None = None,
    name_pattern: str | None = None,
    all: bool = True,
    rand: bool = False,
    mode: str = "fixed",
    qty: int = 1,
    ns: str = "default",
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Add ``add_ms`` to every request of the chosen replicas (all by default) for ``duration`` s."""
    body = {"add_ms": float(add_ms), "duration_s": duration}
    pods = _admin_fault("latency", body, label_selector, name_pattern, all, rand, mode, qty, configuration)
    return {"pods": pods, "add_ms": float(add_ms), "duration_s": duration}


def inject_errors(
    fraction: float,
    status: int = 500,
    duration: float | None = None,
    label_selector: str | None = None,
    name_pattern: str | None = None,
    all: bool = True,
    rand: bool = False,
    mode: str = "fixed",
    qty: int = 1,
    ns: str = "default",
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Fail ``fraction`` of the chosen replicas' requests with ``status`` for ``duration`` s."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise ActivityFailed(f"fraction must be within [0, 1] (got {fraction})")
    body = {"fraction": float(fraction), "status": int(status), "duration_s": duration}
    pods = _admin_fault("errors", body, label_selector, name_pattern, all, rand, mode, qty, configuration)
    return {"pods": pods, "fraction": float(fraction), "status": int(status)}


def _admin_fault(
    verb: str,
    body: dict[str, Any],
    label_selector: str | None,
    name_pattern: str | None,
    all: bool,
    rand: bool,
    mode: str,
    qty: int,
    configuration: Config,
) -> list[str]:
    """POST ``/admin/<verb>`` to each chosen running replica; the names of those it went to."""
    api = connect(configuration)
    state = api.state()
    token = admin_token(state)
    chosen = targets.pick(_admin_targets(state, label_selector, name_pattern, False), all, rand, mode, qty)
    for pod in chosen:
        admin_post(pod, token, verb, body)
    return targets.names(chosen)


def reset_faults(
    label_selector: str | None = None,
    name_pattern: str | None = None,
    ns: str = "default",
    configuration: Config = None,
    secrets: Any = None,
) -> dict[str, Any]:
    """Clear every admin fault on every running replica (a rollback: replicas that do not answer, e.g. hung
    or restarting, are listed as unreachable; a replica that answers with an error fails the action)."""
    api = connect(configuration)
    state = api.state()
    token = admin_token(state)
    done: list[str] = []
    unreachable: list[str] = []
    failed: list[str] = []
    for pod in targets.pods(state, label_selector, name_pattern):
        if not pod.get("port") or pod.get("phase") in ("Pending", "Terminating"):
            continue
        try:
            answer = admin_post(pod, token, "reset", {}, timeout_s=2.0, unreachable_ok=True)
        except ActivityFailed as exc:
            failed.append(str(exc))
            continue
        (done if answer is not None else unreachable).append(str(pod["name"]))
    if failed:
        raise ActivityFailed(f"reset_faults: {'; '.join(failed)} (reset: {done}, unreachable: {unreachable})")
    return {"pods": done, "unreachable": unreachable}
