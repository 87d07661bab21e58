"""kibench's probes: what chaostoolkit-kubernetes has no probe for.

In: arguments plus the experiment's ``configuration``.  Out: plain values for tolerances.

* ``deployment_name``: the reference service's Deployment, for experiments' dynamic configuration
  (``kibench_deployment``): ``$KIBENCH_DEPLOYMENT`` when set, else the one Deployment in the namespace
  that carries ``label_selector``; so ``chaos run`` needs no name when one service runs there;
* ``rollout_complete``: waits, as ``kubectl rollout status`` does, until the Deployment's controller has
  seen its latest spec and every replica runs the new template and is available (chaosk8s's
  ``deployment_fully_available`` compares Ready with desired replicas, which also holds before and in the
  middle of a rolling update);
* ``slo_holds``: latency and error rate of the last ``window_s`` seconds of traffic.  Under ``kibench
  run`` the harness passes ``kibench_live_stats`` (the run's ``chaos/live.jsonl``, fed by the load
  process's progress reports): error rate is exact over the window, latency is the worst rolling
  10-second p95 the load reported in it.  Standalone (``chaos run``, no live file) it sends ``samples``
  requests of its own to the service's Service (its ``status.loadBalancer.ingress``, which the embedded
  cluster publishes on loopback) and judges those.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import httpx
from chaoslib.exceptions import ActivityFailed
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from harness.chaos import interrupt, live
from harness.chaos.kube.connect import DEPLOYMENT_KEY, SERVICE_SELECTOR, Config, cluster, failed, namespace
from harness.procs import poll_until

log = logging.getLogger("chaostoolkit")
LIVE_STATS_KEY = "kibench_live_stats"
DEPLOYMENT_ENV = "KIBENCH_DEPLOYMENT"


def deployment_name(
    label_selector: str = SERVICE_SELECTOR, ns: str | None = None, configuration: Config = None, secrets: Any = None
) -> str:
    """``$KIBENCH_DEPLOYMENT``, else the name of the one Deployment in ``ns`` labelled ``label_selector``."""
    if os.environ.get(DEPLOYMENT_ENV):
        return os.environ[DEPLOYMENT_ENV]
    ns = namespace(configuration, ns)
    with cluster(configuration) as api:
        try:
            found = client.AppsV1Api(api).list_namespaced_deployment(ns, label_selector=label_selector).items
        except ApiException as exc:
            raise failed(exc, f"listing Deployments in {ns!r}") from exc
    names = sorted(str(d.metadata.name) for d in found)
    if len(names) == 1:
        return names[0]
    problem = (
        f"no Deployment in namespace {ns!r} carries {label_selector!r}"
        if not names
        else f"several Deployments in namespace {ns!r} carry {label_selector!r} ({', '.join(names)})"
    )
    # chaoslib only logs a failing dynamic configuration at debug level: say it where the user looks.
    log.error("kibench: %s; set %s to the one to use", problem, DEPLOYMENT_ENV)
    raise ActivityFailed(f"{problem}; set {DEPLOYMENT_ENV} to the one to use")


def _rollout_state(d: client.V1Deployment) -> tuple[bool, str]:
    """kubectl rollout status's verdict on one Deployment: (done, why not)."""
    spec, status = d.spec, d.status
    desired = int(spec.replicas if spec.replicas is not None else 1)
    if int(status.observed_generation or 0) < int(d.metadata.generation or 0):
        return False, "waiting for the deployment spec update to be observed"
    for c in status.conditions or []:
        if c.type == "Progressing" and c.reason == "ProgressDeadlineExceeded":
            raise ActivityFailed(f"deployment {d.metadata.name!r} exceeded its progress deadline")
    updated, replicas, available = (
        int(x or 0) for x in (status.updated_replicas, status.replicas, status.available_replicas)
    )
    if updated < desired:
        return False, f"{updated} of {desired} new replicas have been updated"
    if replicas > updated:
        return False, f"{replicas - updated} old replicas are pending termination"
    if available < updated:
        return False, f"{available} of {updated} updated replicas are available"
    return True, f"{available} of {desired} replicas on the new revision and available"


def rollout_complete(
    name: str,
    ns: str | None = None,
    timeout: float = 120,
    raise_on_timeout: bool = True,
    configuration: Config = None,
    secrets: Any = None,
) -> bool:
    """Wait up to ``timeout`` s until Deployment ``name``'s rollout is complete (``kubectl rollout status``)."""
    ns = namespace(configuration, ns)
    why = "not checked"
    with cluster(configuration) as api:
        apps = client.AppsV1Api(api)

        def rolled_out() -> bool:
            nonlocal why
            try:
                done, why = _rollout_state(apps.read_namespaced_deployment(name, ns))
            except ApiException as exc:
                raise failed(exc, f"reading Deployment {name!r} in {ns!r}") from exc
            return done

        if poll_until(rolled_out, float(timeout), 0.2, sleep=interrupt.sleep, give_up=interrupt.interrupted):
            return True
    if raise_on_timeout:
        raise ActivityFailed(f"deployment {name!r} not rolled out within {timeout}s: {why}")
    return False


def slo_holds(
    window_s: float = 10.0,
    p95_ms: float | None = None,
    error_rate: float | None = None,
    min_requests: int = 1,
    samples: int = 20,
    label_selector: str = SERVICE_SELECTOR,
    ns: str | None = None,
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
        url = service_url(configuration, label_selector, ns)
        observed_p95, observed_errors = _probe_traffic(url, int(samples), float(window_s))
    if p95_ms is not None and (observed_p95 is None or observed_p95 > float(p95_ms)):
        return False
    return not (error_rate is not None and (observed_errors is None or observed_errors > float(error_rate)))


def service_url(configuration: Config, label_selector: str = SERVICE_SELECTOR, ns: str | None = None) -> str:
    """``http://<ingress>:<port>`` of the service's Service (the one named like the Deployment when several)."""
    ns = namespace(configuration, ns)
    with cluster(configuration) as api:
        try:
            found = client.CoreV1Api(api).list_namespaced_service(ns, label_selector=label_selector).items
        except ApiException as exc:
            raise failed(exc, f"listing Services in {ns!r}") from exc
    wanted = (configuration or {}).get(DEPLOYMENT_KEY) or os.environ.get(DEPLOYMENT_ENV)
    found.sort(key=lambda s: (s.metadata.name != wanted, str(s.metadata.name)))
    for svc in found:
        lb = svc.status.load_balancer if svc.status else None
        for ingress in (lb.ingress if lb else None) or []:
            host = ingress.ip or ingress.hostname
            port = ingress.ports[0].port if ingress.ports else svc.spec.ports[0].port
            if host:
                return f"http://{host}:{port}"
    raise ActivityFailed(
        f"no Service in {ns!r} labelled {label_selector!r} has a load-balancer address; slo_holds sends its "
        "own requests there when no live traffic file (kibench_live_stats) is given"
    )


def _probe_traffic(url: str, samples: int, budget_s: float) -> tuple[float | None, float | None]:
    """Send ``samples`` requests to ``url`` (within ``budget_s``); returns (p95 ms, error rate)."""
    latencies, failures = [], 0
    deadline = time.monotonic() + budget_s
    with httpx.Client(timeout=min(budget_s, 5.0)) as http:
        for _ in range(max(samples, 1)):
            if time.monotonic() >= deadline:
                break
            start = time.perf_counter()
            try:
                ok = http.post(f"{url}/v1/predict", json={"inputs": [[0.0] * 8]}).status_code < 400
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - start) * 1000.0)
            failures += not ok
    if not latencies:
        return None, None
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return p95, failures / len(latencies)
