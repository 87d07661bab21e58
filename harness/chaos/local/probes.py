"""Chaos Toolkit probes against the local platform (chaosk8s names where the concept exists).

In: chaosk8s-style arguments plus the experiment ``configuration``.  Out: plain values for
tolerances (ints, bools); probes that chaosk8s makes raise on failure raise ``ActivityFailed`` too.

* count_pods, pods_in_phase (chaosk8s pod.probes); phases are the local platform's own (Pending,
  Starting, Running, Terminating, CrashLoopBackOff, ...);
* deployment_available_and_healthy, deployment_fully_available (chaosk8s deployment.probes):
  Ready replicas >= desired (and, for the second, every live pod on the newest version), the latter
  waiting up to ``timeout`` s;
* all_nodes_are_ok (chaosk8s node.probes);
* slo_holds: latency and error rate of the last ``window_s`` seconds of traffic.  Under ``kibench
  run`` the harness passes ``kibench_live_stats`` (the run's ``chaos/live.jsonl``, fed by the load
  process's progress reports): error rate is exact over the window, latency is the worst rolling
  10-second p95 the load reported in it.  Standalone (``chaos run``, no live file) it sends
  ``samples`` requests of its own through the platform's balancer and judges those.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed

from harness.chaos import interrupt, live
from harness.chaos.local import targets
from harness.chaos.local.client import connect

Config = dict[str, Any] | None
LIVE_STATS_KEY = "kibench_live_stats"


def count_pods(
    label_selector: str | None = None,
    phase: str | None = None,
    ns: str = "default",
    configuration: Config = None,
    secrets: Any = None,
) -> int:
    """How many pods match (and are in ``phase`` when given)."""
    state = connect(configuration).state()
    found = targets.pods(state, label_selector, live_only=False)
    return sum(1 for p in found if phase is None or p.get("phase") == phase)


def pods_in_phase(
    label_selector: str | None = None,
    phase: str = "Running",
    ns: str = "default",
    configuration: Config = None,
    secrets: Any = None,
) -> bool:
    """True when every matching pod is in ``phase``; raises naming the ones that are not."""
    state = connect(configuration).state()
    found = targets.pods(state, label_selector, live_only=False)
    if not found:
        raise ActivityFailed(f"no pod matches {label_selector!r}")
    others = [f"{p['name']}={p.get('phase')}" for p in found if p.get("phase") != phase]
    if others:
        raise ActivityFailed(f"pods not in phase {phase}: {', '.join(others)}")
    return True


def _healthy(state: dict[str, Any], label_selector: str | None, same_version: bool) -> tuple[bool, str]:
    live_pods = targets.pods(state, label_selector)
    ready = sum(1 for p in live_pods if p.get("ready"))
    desired = int(state.get("desired_replicas", 0))
    if ready < desired:
        return False, f"{ready} of {desired} desired replicas Ready"
    if not same_version:
        return True, f"{ready} of {desired} desired replicas Ready"
    if state.get("rolling_update"):
        return False, f"a rolling update to revision {state.get('revision')} is still going"
    versions = {int(p["version"]) for p in live_pods if p.get("version") is not None}
    newest = state.get("revision", max(versions, default=None))
    if versions and versions != {newest}:
        return False, f"pods on versions {sorted(versions)}, revision {newest} wanted"
    return True, f"{ready} of {desired} desired replicas Ready"


def deployment_available_and_healthy(
    name: str | None = None,
    ns: str = "default",
    label_selector: str | None = None,
    raise_on_unavailable: bool = True,
    configuration: Config = None,
    secrets: Any = None,
) -> bool:
    """Ready replicas >= desired replicas, now."""
    state = connect(configuration).state()
    targets.check_deployment(state, name)
    ok, why = _healthy(state, label_selector, same_version=False)
    if not ok and raise_on_unavailable:
        raise ActivityFailed(f"deployment {state.get('deployment')!r} is not healthy: {why}")
    return ok


def deployment_fully_available(
    name: str | None = None,
    ns: str = "default",
    label_selector: str | None = None,
    timeout: int = 30,
    configuration: Config = None,
    secrets: Any = None,
) -> bool:
    """Wait up to ``timeout`` s until every desired replica is Ready on one version; raises on timeout."""
    api = connect(configuration)
    deadline = time.monotonic() + float(timeout)
    why = "not checked"
    for _ in range(int(float(timeout) / 0.2) + 2):
        state = api.state()
        targets.check_deployment(state, name)
        ok, why = _healthy(state, label_selector, same_version=True)
        if ok:
            return True
        if time.monotonic() >= deadline or interrupt.interrupted():
            break
        interrupt.sleep(0.2)
    raise ActivityFailed(f"deployment not fully available within {timeout}s: {why}")


def all_nodes_are_ok(label_selector: str | None = None, configuration: Config = None, secrets: Any = None) -> bool:
    """True when every (matching) node is Ready and schedulable."""
    state = connect(configuration).state()
    return all(n.get("ready") and not n.get("cordoned") for n in targets.nodes(state, None, label_selector))


def slo_holds(
    window_s: float = 10.0,
    p95_ms: float | None = None,
    error_rate: float | None = None,
    min_requests: int = 1,
    samples: int = 20,
    configuration: Config = None,
    secrets: Any = None,
) -> bool:
    """True when the last ``window_s`` s of traffic meet ``p95_ms`` and ``error_rate`` (None: not checked)."""
    path = (configuration or {}).get(LIVE_STATS_KEY)
    if path:
        window = live.read_window(Path(str(path)), float(window_s))
        if window is None or window.age_s > live.STALE_AFTER_S or window.requests < int(min_requests):
            return False  # no live traffic: the SLO cannot be said to hold
        observed_p95, observed_errors = window.p95_ms, window.error_rate
    else:
        observed_p95, observed_errors = _probe_traffic(connect(configuration).state(), int(samples), float(window_s))
    if p95_ms is not None and (observed_p95 is None or observed_p95 > float(p95_ms)):
        return False
    return not (error_rate is not None and (observed_errors is None or observed_errors > float(error_rate)))


def _probe_traffic(state: dict[str, Any], samples: int, budget_s: float) -> tuple[float | None, float | None]:
    """Send ``samples`` requests through the balancer (within ``budget_s``); returns (p95 ms, error rate)."""
    url = state.get("balancer_url")
    if not url:
        raise ActivityFailed("GET /state has no balancer_url; slo_holds cannot send traffic of its own")
    latencies, failures = [], 0
    deadline = time.monotonic() + budget_s
    with httpx.Client(timeout=min(budget_s, 5.0)) as client:
        for _ in range(max(samples, 1)):
            if time.monotonic() >= deadline:
                break
            start = time.perf_counter()
            try:
                ok = client.post(f"{url}/v1/predict", json={"inputs": [[0.0] * 8]}).status_code < 400
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - start) * 1000.0)
            failures += not ok
    if not latencies:
        return None, None
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return p95, failures / len(latencies)
