"""The scenario's service as ordinary Kubernetes manifests: Deployment, Service, HPA (autoscaling/v2), PDB.

In: a resolved ``Scenario`` and the names to use.  Out: ``Manifests``, plain dicts ready for the
official client (or ``kubectl apply``), identical for the embedded cluster and a real one.

Kubernetes counts probe and grace periods in whole seconds; scenarios may compress them below a
second.  Every such field gets the value rounded up (at least 1 s where Kubernetes requires it), and the
exact values travel in the pod template annotation ``kibench.io/timing`` (JSON), which the embedded
cluster's kubelet honours and a real cluster ignores.  Pods metrics name their Prometheus series in
the HPA annotation ``kibench.io/metric-series`` for the embedded metrics pipeline (a real cluster's
custom-metrics adapter maps the same names: deploy/prometheus-adapter/, docs/kubernetes.md#hpa-metrics-on-a-cluster).

The container comes from the scenario's ``service`` section: ``image`` (default ``SERVICE_IMAGE``), pull policy
and secrets, ``resources`` (else ``platform.pod.cpu_request`` and ``.gpus``), ``node_selector`` and
``tolerations`` (``nvidia.com/gpu`` is tolerated whenever GPUs are asked for).  The pod template carries the
``prometheus.io/*`` annotations a Prometheus scrapes pods by.
"""

from __future__ import annotations

import base64
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from harness.deployspec import GPU_RESOURCE, PLACEMENT_FIELDS
from harness.deployspec import SERVICE_IMAGE as SERVICE_IMAGE  # the default image, named where it is documented
from harness.scenario import HpaMetric, HpaRules, HpaSettings, ProbeSpec, Scenario

CONTAINER = "service"
CONTAINER_PORT = 8000
APP_LABEL = "app.kubernetes.io/name"
APP = "kibench-service"
INSTANCE_LABEL = "app.kubernetes.io/instance"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
TIMING_ANNOTATION = "kibench.io/timing"
BALANCING_ANNOTATION = "kibench.io/balancing"
PROXY_TIMEOUT_ANNOTATION = "kibench.io/proxy-timeout-seconds"
SERIES_ANNOTATION = "kibench.io/metric-series"
POD_GAUGES = {
    "queue_depth": "kibench_queue_depth",
    "in_flight": "kibench_in_flight_requests",
    "device_busy": "kibench_device_busy_ratio",
}
#: How a Prometheus finds the pods' /metrics (the prometheus-community chart's kubernetes-pods job reads these).
SCRAPE_ANNOTATIONS = {"prometheus.io/scrape": "true", "prometheus.io/port": str(CONTAINER_PORT),
                      "prometheus.io/path": "/metrics"}  # fmt: skip
_PROBE_PATHS = {"readiness": "/readyz", "liveness": "/healthz", "startup": "/healthz"}


@dataclass(frozen=True)
class Manifests:
    """Every object of one service, in the order to create them."""

    deployment: dict[str, Any]
    service: dict[str, Any]
    hpa: dict[str, Any] | None = None
    pdb: dict[str, Any] | None = None
    extra: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def all(self) -> list[dict[str, Any]]:
        return [m for m in (*self.extra, self.deployment, self.service, self.pdb, self.hpa) if m is not None]


def dns_name(text: str, max_len: int = 40) -> str:
    """``text`` as a DNS-1123 label (lowercase letters, digits and '-')."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")[:max_len].strip("-")
    return name or "kibench"


def _seconds(value: float, minimum: int = 0) -> int:
    return max(math.ceil(value - 1e-9), minimum)


def quantity(value: float) -> str:
    """A number as a Kubernetes quantity: ``3``, ``600m``."""
    if float(value).is_integer():
        return str(int(value))
    return f"{round(value * 1000)}m"


def _probe(kind: str, spec: ProbeSpec) -> dict[str, Any]:
    return {
        "httpGet": {"path": _PROBE_PATHS[kind], "port": "http"},
        "initialDelaySeconds": _seconds(spec.initial_delay),
        "periodSeconds": _seconds(spec.period, 1),
        "timeoutSeconds": _seconds(spec.timeout, 1),
        "failureThreshold": spec.failure_threshold,
        "successThreshold": 1 if kind != "readiness" else spec.success_threshold,
    }


def timing(scenario: Scenario) -> dict[str, Any]:
    """The exact (sub-second) timings of the pod template, for the embedded kubelet."""
    probes = scenario.platform.probes
    return {
        "termination_grace_period_s": scenario.platform.pod.termination_grace_period,
        "probes": {
            kind: {
                "initial_delay_s": spec.initial_delay,
                "period_s": spec.period,
                "timeout_s": spec.timeout,
            }
            for kind, spec in (
                ("readiness", probes.readiness),
                ("liveness", probes.liveness),
                ("startup", probes.startup),
            )
            if spec.enabled
        },
    }


def labels(instance: str) -> dict[str, str]:
    return {APP_LABEL: APP, INSTANCE_LABEL: instance}


def resources(scenario: Scenario) -> dict[str, Any]:
    """The container's requests and limits: ``service.resources`` over ``platform.pod``'s CPU request and GPUs
    (reconciled by the scenario, so ``pod.gpus`` is the count); GPUs are always in limits, as Kubernetes wants."""
    pod, given = scenario.platform.pod, scenario.service.resources
    requests = {"cpu": quantity(pod.cpu_request)}
    if pod.memory_request_mib:
        requests["memory"] = f"{round(pod.memory_request_mib)}Mi"
    limits: dict[str, str] = {}
    if given is not None:
        requests.update(given.requests.as_k8s())
        limits.update(given.limits.as_k8s())
        if given.limits.cpu is not None and given.requests.cpu is None:
            requests["cpu"] = given.limits.cpu  # Kubernetes' own default: the request is the limit
    for side in (requests, limits):
        side.pop(GPU_RESOURCE, None)  # the GPU resource (whole GPUs or a MIG profile) is the pod's, counted there
        if pod.gpus:
            side[pod.gpu_resource] = str(pod.gpus)
    return {"requests": requests, **({"limits": limits} if limits else {})}


def _service_config(scenario: Scenario) -> str:
    """The service section the replica process reads (``KIBENCH_SERVICE_CONFIG``), without the pod's fields."""
    return json.dumps(scenario.service.model_dump(mode="json", exclude=set(PLACEMENT_FIELDS)))


def _tolerations(scenario: Scenario) -> list[dict[str, Any]]:
    tolerate_s = _seconds(scenario.platform.nodes.eviction_delay)
    tolerations = [
        {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": tolerate_s}
        for key in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
    ]
    if scenario.platform.pod.gpus:
        tolerations.append({"key": GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"})
    for tol in scenario.service.tolerations:
        if tol.as_k8s() not in tolerations:
            tolerations.append(tol.as_k8s())
    return tolerations


def deployment(scenario: Scenario, name: str, image: str | None = None) -> dict[str, Any]:
    """The Deployment of the reference service, configured by the scenario's service section."""
    platform, pod, svc = scenario.platform, scenario.platform.pod, scenario.service
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image or svc.image,
        "ports": [{"name": "http", "containerPort": CONTAINER_PORT, "protocol": "TCP"}],
        "env": [
            {"name": "KIBENCH_SERVICE_CONFIG", "value": _service_config(scenario)},
            {"name": "KIBENCH_GRACE_S", "value": f"{pod.termination_grace_period:g}"},
            {"name": "KIBENCH_REPLICA", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        ],
        "resources": resources(scenario),
    }
    if svc.image_pull_policy is not None:
        container["imagePullPolicy"] = svc.image_pull_policy
    for kind in ("readiness", "liveness", "startup"):
        spec = getattr(platform.probes, kind)
        if spec.enabled:
            container[f"{kind}Probe"] = _probe(kind, spec)
    pod_spec: dict[str, Any] = {
        "terminationGracePeriodSeconds": _seconds(pod.termination_grace_period),
        "containers": [container],
        "tolerations": _tolerations(scenario),
    }
    if svc.node_selector:
        pod_spec["nodeSelector"] = dict(svc.node_selector)
    if svc.image_pull_secrets:
        pod_spec["imagePullSecrets"] = [{"name": secret} for secret in svc.image_pull_secrets]
    annotations = {TIMING_ANNOTATION: json.dumps(timing(scenario), sort_keys=True), **SCRAPE_ANNOTATIONS}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": {**labels(name), MANAGED_LABEL: "kibench"}},
        "spec": {
            "replicas": scenario.service.replicas,
            "selector": {"matchLabels": labels(name)},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {
                    "maxSurge": platform.rollout.max_surge,
                    "maxUnavailable": platform.rollout.max_unavailable,
                },
            },
            "template": {
                "metadata": {"labels": labels(name), "annotations": annotations},
                "spec": pod_spec,
            },
        },
    }


def proxy_timeout_s(scenario: Scenario) -> float:
    """The ingress's timeouts: past the client's (``load.timeout``) and the service's (``service.request_timeout``)
    deadlines, so the proxy never ends a request either side still waits for (their 504s and timeouts stay theirs)."""
    return max(float(scenario.load.timeout), float(scenario.service.request_timeout)) + 5.0


def service(name: str, balancing: str = "connection", proxy_timeout_s: float | None = None) -> dict[str, Any]:
    """The Service in front of the replicas (ClusterIP; how load reaches it is the platform's choice).

    ``balancing: request`` (the annotation ``kibench.io/balancing``) asks the embedded cluster to balance it
    per request, as an ingress or gateway would; a Service is per connection (kube-proxy's semantics).
    ``proxy_timeout_s`` (``kibench.io/proxy-timeout-seconds``): how long that ingress may wait on a pod or a
    client, as ingress-nginx's ``proxy-read-timeout`` annotation says it."""
    meta: dict[str, Any] = {"name": name, "labels": {**labels(name), MANAGED_LABEL: "kibench"}}
    meta["annotations"] = {BALANCING_ANNOTATION: balancing}
    if proxy_timeout_s is not None:
        meta["annotations"][PROXY_TIMEOUT_ANNOTATION] = f"{proxy_timeout_s:g}"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "selector": labels(name),
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def _metric(metric: HpaMetric) -> dict[str, Any]:
    if metric.type == "Resource":
        if metric.target_utilization is not None:
            target = {"type": "Utilization", "averageUtilization": metric.target_utilization}
        else:
            target = {"type": "AverageValue", "averageValue": quantity(float(metric.target_average_value or 0))}
        return {"type": "Resource", "resource": {"name": metric.name, "target": target}}
    value = quantity(float(metric.target_average_value or 0))
    return {
        "type": "Pods",
        "pods": {"metric": {"name": metric.name}, "target": {"type": "AverageValue", "averageValue": value}},
    }


def _rules(rules: HpaRules | None) -> dict[str, Any] | None:
    if rules is None:
        return None
    out: dict[str, Any] = {}
    if rules.stabilization_window is not None:
        out["stabilizationWindowSeconds"] = _seconds(rules.stabilization_window)
    if rules.select_policy is not None:
        out["selectPolicy"] = rules.select_policy
    if rules.policies is not None:
        out["policies"] = [
            {"type": p.type, "value": p.value, "periodSeconds": _seconds(p.period, 1)} for p in rules.policies
        ]
    if rules.tolerance is not None:
        out["tolerance"] = quantity(rules.tolerance)
    return out


def vpa(name: str) -> dict[str, Any]:
    """A VerticalPodAutoscaler (autoscaling.k8s.io/v1) in recommendation mode (``updateMode: "Off"``)."""
    spec = {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "updatePolicy": {"updateMode": "Off"},
    }
    return {
        "apiVersion": "autoscaling.k8s.io/v1",
        "kind": "VerticalPodAutoscaler",
        "metadata": {"name": name},
        "spec": spec,
    }


def hpa(settings: HpaSettings, name: str) -> dict[str, Any]:
    """The HorizontalPodAutoscaler (autoscaling/v2); no metrics means upstream's default, cpu at 80 %."""
    metrics = [_metric(m) for m in settings.metrics] or [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}
    ]
    series = {m.name: m.prometheus or POD_GAUGES.get(m.name, m.name) for m in settings.metrics if m.type == "Pods"}
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": settings.min_replicas,
        "maxReplicas": settings.max_replicas,
        "metrics": metrics,
    }
    if settings.behavior is not None:
        behavior = {"scaleUp": _rules(settings.behavior.scale_up), "scaleDown": _rules(settings.behavior.scale_down)}
        spec["behavior"] = {k: v for k, v in behavior.items() if v is not None}
    meta: dict[str, Any] = {"name": name, "labels": {**labels(name), MANAGED_LABEL: "kibench"}}
    if series:
        meta["annotations"] = {SERIES_ANNOTATION: json.dumps(series, sort_keys=True)}
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta, "spec": spec}


def pdb(scenario: Scenario, name: str) -> dict[str, Any] | None:
    budget = scenario.platform.pdb
    if budget is None:
        return None
    spec: dict[str, Any] = {"selector": {"matchLabels": labels(name)}}
    if budget.min_available is not None:
        spec["minAvailable"] = budget.min_available
    else:
        spec["maxUnavailable"] = budget.max_unavailable
    meta = {"name": name, "labels": {**labels(name), MANAGED_LABEL: "kibench"}}
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta, "spec": spec}


def admin_secret(name: str, token: str) -> dict[str, Any]:
    """The Secret holding the service's admin token (its fault API: docs/local-api.md)."""
    data = {"token": base64.b64encode(token.encode()).decode()}
    meta = {"name": f"{name}-admin", "labels": {**labels(name), MANAGED_LABEL: "kibench"}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta, "type": "Opaque", "data": data}


def render(
    scenario: Scenario, name: str | None = None, image: str | None = None, admin_token: str | None = None
) -> Manifests:
    """Every manifest of the scenario's service; ``name`` defaults to ``<scenario>-svc``, ``image`` to
    ``service.image``.

    With ``admin_token``, a Secret ``<name>-admin`` holds it and the container reads it into
    ``KIBENCH_ADMIN_TOKEN``, which turns the reference service's fault API on.
    """
    name = name or dns_name(f"{scenario.name}-svc")
    dep = deployment(scenario, name, image)
    extra: tuple[dict[str, Any], ...] = ()
    if admin_token is not None:
        env = dep["spec"]["template"]["spec"]["containers"][0]["env"]
        ref = {"secretKeyRef": {"name": f"{name}-admin", "key": "token"}}
        env.append({"name": "KIBENCH_ADMIN_TOKEN", "valueFrom": ref})
        extra = (admin_secret(name, admin_token),)
    if scenario.platform.vpa:
        extra = (*extra, vpa(name))
    return Manifests(
        deployment=dep,
        service=service(name, scenario.platform.balancing, proxy_timeout_s(scenario)),
        hpa=hpa(scenario.platform.hpa, name) if scenario.platform.hpa.enabled else None,
        pdb=pdb(scenario, name),
        extra=extra,
    )
