"""The scenario's ``platform`` section: where the service runs, its pods, probes, rollout, budget and autoscalers.

In: the ``platform`` mapping (or the ``platform: local`` shorthand, expanded by ``Scenario``).  Out: a frozen
``PlatformSpec``; ``check_service_url`` checks a base URL (also used for ``platform.url``).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator, model_validator

from harness.scenario.hpa import HpaSettings
from harness.scenario.nodes import NodesSpec
from harness.scenario.units import Duration, IntOrPercent, _Model


class ProbeSpec(_Model):
    """A kubelet probe; defaults are Kubernetes' (periodSeconds 10, failureThreshold 3, ...)."""

    enabled: bool = Field(True, description="run this probe at all")
    initial_delay: Duration = Field(0.0, description="initialDelaySeconds: wait after container start")
    period: Duration = Field(10.0, gt=0, description="periodSeconds: time between probes")
    timeout: Duration = Field(1.0, gt=0, description="timeoutSeconds: a probe slower than this failed")
    failure_threshold: int = Field(3, ge=1, description="failures in a row before acting")
    success_threshold: int = Field(1, ge=1, description="successes in a row to pass again (readiness only)")


class ProbesSpec(_Model):
    readiness: ProbeSpec = Field(ProbeSpec(), description="GET /readyz; gates load-balancer membership")
    liveness: ProbeSpec = Field(ProbeSpec(), description="GET /healthz; restarts the container when it fails")
    startup: ProbeSpec = Field(
        ProbeSpec(enabled=False), description="GET /healthz; holds the other probes until it passes (off by default)"
    )


class PodSpec(_Model):
    """What each replica (pod) asks for and how it is stopped and restarted."""

    cpu_request: float = Field(1.0, gt=0, description="CPU request in cores; CPU utilization is measured against it")
    gpus: int = Field(1, ge=0, le=64, description="GPU slots each replica needs on its node")
    gpu_resource: str = Field(
        "nvidia.com/gpu",
        pattern=r"^nvidia\.com/(gpu|mig-[0-9]+g\.[0-9]+gb)$",
        description="the extended resource the GPUs are asked as: nvidia.com/gpu, or a MIG slice such as "
        "nvidia.com/mig-1g.10gb (docs/resources.md)",
    )
    memory_request_mib: float = Field(0.0, ge=0, description="memory request in MiB (0: none)")
    termination_grace_period: Duration = Field(30.0, description="SIGTERM, then SIGKILL after this long")
    restart_backoff_initial: Duration = Field(10.0, description="first CrashLoopBackOff delay; doubles per crash")
    restart_backoff_max: Duration = Field(300.0, description="CrashLoopBackOff cap (reset after 2x this running)")


class DisruptionBudgetSpec(_Model):
    """A PodDisruptionBudget for the service's pods: exactly one of the two fields."""

    min_available: IntOrPercent | None = None
    max_unavailable: IntOrPercent | None = None

    @model_validator(mode="after")
    def _one(self) -> DisruptionBudgetSpec:
        if (self.min_available is None) == (self.max_unavailable is None):
            raise ValueError("give exactly one of min_available or max_unavailable")
        return self


class RolloutSpec(_Model):
    max_surge: IntOrPercent = Field("25%", description="pods over the desired count during a rolling update")
    max_unavailable: IntOrPercent = Field("25%", description="pods under the desired count during a rolling update")


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_CLUSTER_FIELDS = ("context", "namespace", "kubeconfig")


class PlatformSpec(_Model):
    """Where the service runs.  ``local`` is the embedded platform (no cluster, no Docker); ``kubernetes`` is
    the cluster a kubeconfig names (docs/kubernetes.md): ``context``, ``namespace`` and ``kubeconfig`` belong to it."""

    kind: Literal["local", "kubernetes"] = Field(
        "local", description="local: the embedded cluster kibench starts; kubernetes: your cluster, via a kubeconfig"
    )
    context: str | None = Field(
        None,
        description="kind kubernetes: the kubeconfig context to use (default: its current-context); "
        "a kubeconfig without this context is refused",
    )
    namespace: str | None = Field(
        None,
        description="kind kubernetes: an existing namespace to work in (never deleted); "
        "default: a namespace of the run's own, kibench-<run-id>, deleted at the end",
    )
    kubeconfig: str | None = Field(
        None, description="kind kubernetes: the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)"
    )
    url: str | None = Field(
        None,
        description="kind kubernetes: the service's address from where kibench runs (an Ingress or LoadBalancer, "
        "http(s)://host[:port][/prefix]); the load goes there (docs/kubernetes.md#how-the-load-reaches-the-service)",
    )
    route: Literal["auto", "url", "loadbalancer", "port-forward"] = Field(
        "auto",
        description="kind kubernetes: how the load reaches the service: url (platform.url), loadbalancer (a "
        "LoadBalancer Service's address), port-forward (a tunnel through the API server: smoke runs only); "
        "auto: url if given, else the Service's external address if it has one, else port-forward",
    )
    ready_timeout: Duration = Field(60.0, description="how long to wait for the initial replicas to be Ready")
    balancing: Literal["connection", "request"] = Field(
        "connection",
        description="connection: a Service as kube-proxy balances it (a keep-alive client stays on its pod); "
        "request: through an ingress or gateway (each request to the next Ready pod)",
    )
    nodes: NodesSpec = NodesSpec()
    pod: PodSpec = PodSpec()
    probes: ProbesSpec = ProbesSpec()
    rollout: RolloutSpec = RolloutSpec()
    pdb: DisruptionBudgetSpec | None = Field(None, description="PodDisruptionBudget honoured by drains")
    hpa: HpaSettings = HpaSettings()
    vpa: bool = Field(
        False,
        description="create a VerticalPodAutoscaler in recommendation mode (updateMode Off) for the service; "
        "on a real cluster the VPA must be installed (docs/resources.md)",
    )
    prometheus_url: str | None = Field(
        None,
        description="kind kubernetes: a Prometheus that scrapes NVIDIA's dcgm-exporter (series labelled pod and "
        "namespace); the run's GPU use per pod is read from it into usage.parquet (docs/resources.md)",
    )

    @field_validator(*_CLUSTER_FIELDS)
    @classmethod
    def _cluster_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("kind") != "kubernetes":
            raise ValueError(
                f"only platform.kind kubernetes uses {info.field_name}; set platform.kind: kubernetes or remove it"
            )
        if not value.strip():
            raise ValueError(f"{info.field_name} is empty; give a name or remove the field")
        if info.field_name == "namespace" and (len(value) > 63 or not _DNS_LABEL.match(value)):
            raise ValueError(
                f"{value!r} is not a namespace name (lowercase letters, digits and '-', at most 63, "
                "starting and ending with a letter or digit); fix it, or leave namespace out to get kibench-<run-id>"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("kind") != "kubernetes":
            raise ValueError("only platform.kind kubernetes uses url (on local, use target.url to skip deploying)")
        return check_service_url(value)

    @field_validator("prometheus_url")
    @classmethod
    def _prometheus_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("kind") != "kubernetes":
            raise ValueError("only platform.kind kubernetes reads a Prometheus (on local, each replica's /metrics "
                             "carries the DCGM gauges); set platform.kind: kubernetes or remove it")  # fmt: skip
        return check_service_url(value)

    @model_validator(mode="after")
    def _route(self) -> PlatformSpec:
        if self.route != "auto" and self.kind != "kubernetes":
            raise ValueError(f"route {self.route!r}: only platform.kind kubernetes has routes; remove it")
        if self.route == "url" and self.url is None:
            raise ValueError("route 'url' needs platform.url (the Ingress or LoadBalancer address)")
        if self.url is not None and self.route not in ("auto", "url"):
            raise ValueError(f"route {self.route!r} and url are both given; keep one")
        return self


def check_service_url(value: str) -> str:
    """``value`` when it is an http(s) base URL with a host (and no query or fragment); ValueError saying why."""
    parsed = urlsplit(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL with a host, e.g. http://inference.example.com")
    if parsed.query or parsed.fragment:
        raise ValueError(f"{value!r}: give the base URL without ?query or #fragment (the load adds the path)")
    try:
        parsed.port  # noqa: B018 - raises on a malformed port
    except ValueError as exc:
        raise ValueError(f"{value!r}: the port is not a number 1-65535") from exc
    return value.strip().rstrip("/")
