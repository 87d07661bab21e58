"""The scenario file: pydantic models, loading with ``--set`` overrides, validation errors, JSON Schema.

In: a YAML file path and optional ``path.to.field=VALUE`` overrides.  Out: a validated ``Scenario``
(durations already converted to seconds) or a ``ScenarioError`` (exit 2) whose message names the
file, the field path and the fix.  ``json_schema()`` exports the schema for editors and CI.

Durations are written as strings (``500ms``, ``30s``, ``5m``, ``1h``) or plain numbers of seconds.
"""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness import deployspec, thresholds
from harness.errors import ScenarioError, ThresholdError

_DURATION = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """``'30s'`` → 30.0 seconds; numbers are seconds.  Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '30s', '5m', '500ms' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration; write e.g. '500ms', '30s', '5m' or '1h'")
        seconds = float(match["num"]) * _UNIT_S[match["unit"]]
    if seconds < 0:
        raise ValueError(f"a duration must be >= 0 (got {value!r})")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be a finite time (got {value!r})")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _int_or_percent(value: Any) -> int | str:
    """Kubernetes' IntOrString for budgets: ``2`` or ``'25%'``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+%", value.strip()):
        return value.strip()
    raise ValueError(f"write a count >= 0 (e.g. 1) or a percentage (e.g. '25%') (got {value!r})")


IntOrPercent = Annotated[int | str, BeforeValidator(_int_or_percent)]


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


class NodeAutoscalerSpec(_Model):
    """Node pool autoscaling in the manner of cluster-autoscaler (its flag defaults)."""

    enabled: bool = False
    min_nodes: int = Field(1, ge=0, le=64, description="never fewer nodes")
    max_nodes: int = Field(4, ge=1, le=64, description="never more nodes")
    provisioning_delay: Duration = Field(60.0, description="Pending pods -> new node Ready (cloud boot time)")
    scan_interval: Duration = Field(10.0, gt=0, description="--scan-interval: how often it looks")
    scale_down_unneeded_time: Duration = Field(600.0, description="--scale-down-unneeded-time before removal")
    scale_down_delay_after_add: Duration = Field(600.0, description="--scale-down-delay-after-add")
    scale_down_utilization_threshold: float = Field(0.5, ge=0, le=1, description="GPU use below which it is unneeded")

    @model_validator(mode="after")
    def _bounds(self) -> NodeAutoscalerSpec:
        if self.min_nodes > self.max_nodes:
            raise ValueError(f"min_nodes ({self.min_nodes}) must be <= max_nodes ({self.max_nodes})")
        return self


#: MIG profiles of an 80 GB H100/A100-class GPU: compute slices (of 7) and memory (GB), as NVIDIA names them.
MIG_PROFILES: dict[str, tuple[int, int]] = {
    "1g.10gb": (1, 10),
    "1g.20gb": (1, 20),
    "2g.20gb": (2, 20),
    "3g.40gb": (3, 40),
    "4g.40gb": (4, 40),
    "7g.80gb": (7, 80),
}


class GpuSpec(_Model):
    """How each node's GPUs are offered, as NVIDIA's device plugin offers them (docs/resources.md)."""

    model: str = Field("NVIDIA-H100-80GB-HBM3", max_length=64, description="the GPU's product name (a node label)")
    memory_gb: int = Field(80, ge=1, le=1024, description="framebuffer of one whole GPU")
    sharing: Literal["none", "time-slicing", "mig"] = Field(
        "none", description="none: whole GPUs; time-slicing: `replicas` pods per GPU; mig: the `mig` partitions"
    )
    replicas: int = Field(2, ge=2, le=48, description="time-slicing: pods per GPU (the device plugin's replicas)")
    mig: dict[str, int] = Field(
        default_factory=dict, description="mig: partitions of each GPU, profile -> count, e.g. {'1g.10gb': 7}"
    )
    time_slice_overhead: float = Field(
        0.05, ge=0, lt=1, description="time-slicing: share of the GPU lost to context switches when >1 pod is busy"
    )

    @model_validator(mode="after")
    def _partitions(self) -> GpuSpec:
        if self.sharing != "mig":
            if self.mig:
                raise ValueError("mig partitions need sharing: mig; set sharing: mig or remove mig")
            return self
        if not self.mig:
            raise ValueError("sharing: mig needs partitions, e.g. mig: {'1g.10gb': 7} or {'3g.40gb': 2}")
        unknown = sorted(set(self.mig) - set(MIG_PROFILES))
        if unknown:
            raise ValueError(f"unknown MIG profile(s) {unknown}; known: {', '.join(MIG_PROFILES)}")
        slices = sum(MIG_PROFILES[p][0] * n for p, n in self.mig.items())
        memory = sum(MIG_PROFILES[p][1] * n for p, n in self.mig.items())
        if slices > 7 or memory > self.memory_gb:
            raise ValueError(
                f"the partitions need {slices} of 7 compute slices and {memory} of {self.memory_gb} GB; "
                "use fewer or smaller profiles"
            )
        return self


class NodesSpec(_Model):
    """The virtual nodes replicas are scheduled on."""

    count: int = Field(2, ge=0, le=64, description="nodes at start")
    gpu_slots: int = Field(8, ge=1, le=64, description="physical GPUs per node")
    gpu: GpuSpec = Field(default_factory=GpuSpec, description="the GPUs' model and sharing: whole, time-slicing, MIG")
    eviction_delay: Duration = Field(300.0, description="NotReady node -> its pods are evicted (tolerationSeconds)")
    drain_retry_interval: Duration = Field(5.0, gt=0, description="a drain retries a PDB-blocked eviction this often")
    autoscaler: NodeAutoscalerSpec = NodeAutoscalerSpec()


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


class HpaMetric(_Model):
    """One HPA metric: ``Pods`` (a gauge on each replica's /metrics) or ``Resource`` cpu."""

    type: Literal["Pods", "Resource"] = "Pods"
    name: str = Field(description="Pods: queue_depth | in_flight | device_busy | a gauge name; Resource: cpu")
    target_average_value: float | None = Field(None, gt=0, description="per-pod target (Pods; Resource: cores)")
    target_utilization: int | None = Field(None, gt=0, description="Resource only: percent of the CPU request")
    prometheus: str | None = Field(None, description="the gauge's name on /metrics when it is not the usual one")

    @model_validator(mode="after")
    def _target(self) -> HpaMetric:
        if self.type == "Resource" and self.name != "cpu":
            raise ValueError(f"the local platform measures only the cpu resource (got {self.name!r})")
        if (self.target_average_value is None) == (self.target_utilization is None):
            raise ValueError("give exactly one of target_average_value or target_utilization")
        if self.type == "Pods" and self.target_utilization is not None:
            raise ValueError("Pods metrics take target_average_value, not target_utilization")
        return self


class HpaPolicy(_Model):
    type: Literal["Pods", "Percent"]
    value: int = Field(ge=1)
    period: Duration = Field(gt=0)


class HpaRules(_Model):
    stabilization_window: Duration | None = None
    select_policy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[HpaPolicy] | None = None
    tolerance: float | None = Field(None, ge=0)


class HpaBehavior(_Model):
    scale_up: HpaRules | None = None
    scale_down: HpaRules | None = None


class HpaSettings(_Model):
    """The HorizontalPodAutoscaler (autoscaling/v2) and the controller-manager flags, Kubernetes' defaults."""

    enabled: bool = False
    min_replicas: int = Field(1, ge=1, le=64)
    max_replicas: int = Field(10, ge=1, le=64)
    metrics: list[HpaMetric] = Field(default_factory=list, description="empty: cpu at 80% utilization")
    behavior: HpaBehavior | None = Field(None, description="unset: the legacy (pre-behavior) path")
    sync_period: Duration = Field(15.0, gt=0, description="--horizontal-pod-autoscaler-sync-period")
    tolerance: float = Field(0.1, ge=0, description="--horizontal-pod-autoscaler-tolerance")
    cpu_initialization_period: Duration = Field(300.0, description="young pods' CPU counts only once Ready")
    initial_readiness_delay: Duration = Field(30.0, description="--horizontal-pod-autoscaler-initial-readiness-delay")
    downscale_stabilization: Duration = Field(300.0, description="--horizontal-pod-autoscaler-downscale-stabilization")
    metric_resolution: Duration = Field(15.0, gt=0, description="scrape period of pod metrics (metrics-server)")

    @model_validator(mode="after")
    def _bounds(self) -> HpaSettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(f"min_replicas ({self.min_replicas}) must be <= max_replicas ({self.max_replicas})")
        return self


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


_PROFILE_DIR = Path(__file__).parent / "service" / "profiles"  # the named profiles (data files, see docs/service.md)
_MODEL_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"


class ClassicProfileSpec(_Model):
    """An emulated classic model (e.g. an image classifier): dynamic batching, a batch takes base + per item."""

    kind: Literal["classic"]
    name: str = Field("custom-classic", pattern=_MODEL_ID, max_length=128, description="model id in /v1/models")
    base_ms: float = Field(ge=0, description="device time of a batch, fixed part")
    per_item_ms: float = Field(0.0, ge=0, description="device time added by each item of the batch")
    max_batch_size: int = Field(1, ge=1, le=4096, description="largest batch the device runs")
    max_queue_delay_ms: float = Field(0.0, ge=0, description="longest a request waits for its batch to fill")
    source: str = Field("", description="where the numbers come from")


class LLMProfileSpec(_Model):
    """An emulated LLM: continuous batching; a step = step_base + per decoding seq + per prefill token."""

    kind: Literal["llm"]
    name: str = Field("custom-llm", pattern=_MODEL_ID, max_length=128, description="model id in /v1/models")
    max_num_seqs: int = Field(256, ge=1, le=8192, description="sequences running at once")
    max_num_batched_tokens: int = Field(8192, ge=1, description="prompt tokens prefilled per step (chunked)")
    prefill_per_token_ms: float = Field(ge=0, description="device time per prompt token prefilled")
    step_base_ms: float = Field(ge=0, description="device time of one decode step, fixed part")
    step_per_seq_ms: float = Field(ge=0, description="device time added by each running sequence")
    max_model_len: int = Field(8192, ge=2, description="prompt + max_tokens limit (400 beyond it)")
    source: str = Field("", description="where the numbers come from")


ProfileSpec = Annotated[ClassicProfileSpec | LLMProfileSpec, Field(discriminator="kind")]


class ServiceSpec(_Model):
    """The reference inference service to deploy."""

    replicas: int = Field(2, ge=1, le=64, description="initial number of replicas")
    backend: Literal["emulated", "torch"] = Field(
        "emulated", description="emulated device, or a small real PyTorch model (needs the `torch` extra)"
    )
    device_time_ms: float = Field(
        50.0, ge=0, description="device time per request when no profile is given (batch size 1)"
    )
    cold_start: Duration = Field(1.0, description="model-load time before warm-up and /readyz answering 200")
    profile: ProfileSpec | str | None = Field(
        None, description="a named profile (docs/service.md) or a custom one ({kind: classic|llm, ...})"
    )
    max_queue: int = Field(256, ge=1, le=100_000, description="requests waiting for the device; beyond: 429")
    request_timeout: Duration = Field(30.0, description="per-request deadline (first token when streaming): 504")
    max_body_bytes: int = Field(1 << 20, ge=64, description="larger request bodies get 413")
    # How the pods run on a cluster (harness/deployspec.py, docs/kubernetes.md#image-resources-and-placement):
    image: deployspec.ImageRef = Field(deployspec.SERVICE_IMAGE, description="container image (default: the "
                                       "reference service, the Dockerfile's service target)")  # fmt: skip
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(None, description="unset: "
                                                                                  "Kubernetes' default")  # fmt: skip
    image_pull_secrets: deployspec.PullSecrets = Field(default_factory=list, description="docker-registry Secrets")
    resources: deployspec.ResourcesSpec | None = Field(None, description="requests/limits: cpu, memory, "
                                                       "nvidia.com/gpu (default: platform.pod's)")  # fmt: skip
    node_selector: deployspec.NodeSelector = Field(default_factory=dict, description="node labels to land on")
    tolerations: list[deployspec.Toleration] = Field(default_factory=list, description="taints to tolerate")

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: Any) -> Any:
        names = sorted(p.stem for p in _PROFILE_DIR.glob("*.yaml"))
        if isinstance(value, str) and value not in names:  # by name, not by path: no OSError, no '../'
            raise ValueError(f"unknown profile {value!r}; use one of {', '.join(names)} or a mapping with kind")
        return value


class Stage(_Model):
    """One stage of the arrival rate: ramp linearly to ``target_rps`` over ``duration`` (k6 style)."""

    duration: Duration
    target_rps: float = Field(ge=0)


# ---- load: arrival-rate shapes (docs/load.md) -------------------------------------------------------


class ConstantShape(_Model):
    """A constant arrival rate for ``duration``."""

    kind: Literal["constant"]
    rate_rps: float = Field(gt=0, description="arrival rate")
    duration: Duration = Field(gt=0, description="how long the rate lasts")


class StagesShape(_Model):
    """Piecewise-linear rate from ``start_rps`` through each stage's ``target_rps`` (k6 ramping-arrival-rate)."""

    kind: Literal["stages"]
    start_rps: float = Field(0.0, ge=0, description="rate at t=0")
    stages: list[Stage] = Field(min_length=1, description="ramp linearly to target_rps over duration, in order")


class SpikeShape(_Model):
    """``base_rps`` for ``before``, up to ``peak_rps`` over ``rise``, held for ``hold``, down over ``fall``."""

    kind: Literal["spike"]
    base_rps: float = Field(ge=0, description="rate before and after the spike")
    peak_rps: float = Field(gt=0, description="rate at the top of the spike")
    before: Duration = Field(10.0, description="time at base_rps before the rise")
    rise: Duration = Field(0.0, description="ramp time base → peak (0: a step)")
    hold: Duration = Field(gt=0, description="time at peak_rps")
    fall: Duration = Field(0.0, description="ramp time peak → base (0: a step)")
    after: Duration = Field(10.0, description="time at base_rps after the fall")


class StepShape(_Model):
    """A staircase: ``start_rps``, then ``step_rps`` more every ``step_duration``, ``steps`` levels in all."""

    kind: Literal["step"]
    start_rps: float = Field(ge=0, description="rate of the first level")
    step_rps: float = Field(description="added at each level (negative: a staircase down)")
    steps: int = Field(ge=1, le=10_000, description="number of levels")
    step_duration: Duration = Field(gt=0, description="time at each level")

    @model_validator(mode="after")
    def _never_negative(self) -> StepShape:
        if self.start_rps + (self.steps - 1) * self.step_rps < 0:
            raise ValueError("the last level would be below 0 rps; lower steps or raise start_rps")
        return self


class SineShape(_Model):
    """Between ``min_rps`` and ``max_rps`` along a cosine that starts at the trough (``diurnal``: period 24h)."""

    kind: Literal["sine", "diurnal"]
    min_rps: float = Field(ge=0, description="rate at the trough (t = 0)")
    max_rps: float = Field(gt=0, description="rate at the crest (t = period / 2)")
    period: Duration = Field(gt=0, description="one full cycle; compress a day with e.g. '10m'")
    duration: Duration = Field(gt=0, description="total load time")
    points_per_period: int = Field(48, ge=8, le=10_000, description="linear pieces per cycle")

    @model_validator(mode="after")
    def _ordered(self) -> SineShape:
        if self.max_rps < self.min_rps:
            raise ValueError(f"max_rps ({self.max_rps:g}) must be >= min_rps ({self.min_rps:g})")
        return self


def _resolve_path(value: str) -> Path:
    """A relative path is relative to the working directory (like chaos experiment files); made absolute."""
    try:
        return Path(value).expanduser().resolve()
    except RuntimeError as exc:  # ~user of a user that does not exist
        raise ValueError(f"cannot resolve {value!r} ({exc})") from None


def read_trace_csv(path: Path) -> list[tuple[float, float]]:
    """``time_s,rate_rps`` rows (one header line and ``#`` comments allowed) → points; errors name the line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValueError(f"cannot read trace file {path} ({exc.strerror}); check the path") from exc
    points: list[tuple[float, float]] = []
    header_allowed = True
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        cells = [c.strip() for c in text.split(",")]
        try:
            point = (float(cells[0]), float(cells[1]))
        except (ValueError, IndexError):
            if not header_allowed:
                raise ValueError(f"{path}:{number}: expected 'time_s,rate_rps' numbers, got {line!r}") from None
        else:
            if not all(map(math.isfinite, point)):
                raise ValueError(f"{path}:{number}: time and rate must be finite numbers, got {line!r}")
            points.append(point)
        header_allowed = False
    return points


class TraceShape(_Model):
    """Replay a recorded rate: CSV rows ``time_s,rate_rps`` (or inline ``points``), scaled in time and rate."""

    kind: Literal["trace"]
    file: str | None = Field(None, description="CSV of time_s,rate_rps; relative to the working directory")
    points: list[tuple[float, float]] | None = Field(None, description="inline [time_s, rate_rps] pairs")
    time_scale: float = Field(1.0, gt=0, description="multiplies every time (0.1 plays an hour in 6 minutes)")
    rate_scale: float = Field(1.0, gt=0, description="multiplies every rate")
    interpolate: Literal["linear", "step"] = Field("linear", description="between points: ramp, or hold")

    @model_validator(mode="before")
    @classmethod
    def _read_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("file") and data.get("points") is None:
            path = _resolve_path(str(data["file"]))
            data = {**data, "file": str(path), "points": read_trace_csv(path)}
        return data

    @model_validator(mode="after")
    def _valid_points(self) -> TraceShape:
        pts = self.points or []
        if len(pts) < 2:
            raise ValueError("a trace needs at least two points (give file or points)")
        for (t1, _), (t2, _) in zip(pts, pts[1:], strict=False):
            if t2 <= t1:
                raise ValueError(f"trace times must increase (got {t1:g} then {t2:g})")
        if pts[0][0] < 0 or any(rate < 0 for _, rate in pts):
            raise ValueError("trace times and rates must be >= 0")
        return self


Shape = Annotated[
    ConstantShape | StagesShape | SpikeShape | StepShape | SineShape | TraceShape, Field(discriminator="kind")
]


def shape_duration_s(shape: Any) -> float:
    """Total time of a shape in seconds."""
    if isinstance(shape, StagesShape):
        return sum(stage.duration for stage in shape.stages)
    if isinstance(shape, SpikeShape):
        return shape.before + shape.rise + shape.hold + shape.fall + shape.after
    if isinstance(shape, StepShape):
        return shape.steps * shape.step_duration
    if isinstance(shape, TraceShape):
        pts = shape.points or [(0.0, 0.0)]
        return (pts[-1][0] - pts[0][0]) * shape.time_scale
    return float(shape.duration)


# ---- load: workloads -------------------------------------------------------------------------------


class Lengths(_Model):
    """A token-count distribution, clipped to [min, max]."""

    distribution: Literal["fixed", "uniform", "normal", "lognormal"] = Field("fixed", description="family")
    mean: float = Field(128.0, gt=0, description="fixed value, or the mean (normal, lognormal)")
    stddev: float = Field(0.0, ge=0, description="normal / lognormal spread")
    min: int = Field(1, ge=1, description="lower bound (uniform: low end)")
    max: int = Field(4096, ge=1, description="upper bound (uniform: high end)")

    @model_validator(mode="after")
    def _ordered(self) -> Lengths:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class PredictWorkload(_Model):
    """POST a JSON body (default: the reference service's /v1/predict input) and read the reply."""

    kind: Literal["predict"] = "predict"
    body: dict[str, Any] = Field(default_factory=lambda: {"inputs": [[0.0] * 8]}, description="request body")


class CompletionsWorkload(_Model):
    """OpenAI-compatible /v1/completions, streamed (SSE): time to first token, inter-token gaps, tokens."""

    kind: Literal["completions"]
    model: str | None = Field(None, description="the request's model field (unset: left out, the server's default)")
    stream: bool = Field(True, description="ask for server-sent events (needed for TTFT and inter-token gaps)")
    prompt_tokens: Lengths = Field(default_factory=lambda: Lengths(mean=128), description="prompt length")
    output_tokens: Lengths = Field(default_factory=lambda: Lengths(mean=64), description="max_tokens asked for")
    body: dict[str, Any] | None = Field(
        None, description="request template; '{{prompt}}', '{{max_tokens}}', '{{model}}', '{{stream}}' replaced"
    )


Workload = Annotated[PredictWorkload | CompletionsWorkload, Field(discriminator="kind")]
_DEFAULT_ENDPOINT = {"predict": "/v1/predict", "completions": "/v1/completions"}


class LoadSpec(_Model):
    """The load: open model (an arrival-rate shape) or closed model (users); see docs/load.md."""

    model: Literal["open", "closed"] = Field("open", description="open: arrival rate; closed: looping users")
    rate_rps: float | None = Field(None, gt=0, description="constant arrival rate (shorthand for shape constant)")
    duration: Duration | None = Field(None, description="how long the constant rate (or the closed model) lasts")
    start_rps: float = Field(0.0, ge=0, description="rate at t=0 when stages are used")
    stages: list[Stage] | None = Field(None, description="shorthand for shape stages")
    shape: Shape | None = Field(None, description="constant | stages | spike | step | sine | diurnal | trace")
    arrivals: Literal["uniform", "poisson", "gamma"] = Field("uniform", description="arrival process")
    burstiness: float = Field(1.0, gt=0, description="gamma shape: 1 = Poisson, < 1 burstier, > 1 more even")
    seed: int = Field(1, ge=0, description="seed of every random draw (arrivals, lengths): same seed, same run")
    max_concurrency: int = Field(256, ge=1, description="cap on requests in flight; arrivals over it are dropped")
    timeout: Duration = Field(10.0, description="per-request timeout")
    endpoint: str | None = Field(None, description="request path; default: the workload's (/v1/predict ...)")
    workload: Workload = Field(default_factory=PredictWorkload, description="predict | completions")
    users: int | None = Field(None, ge=1, le=100_000, description="closed model: number of users")
    spawn_rate: float | None = Field(None, gt=0, description="closed model: users started per second (default all)")
    wait_time: Duration = Field(0.0, description="closed model: pause between a user's requests")
    wait_time_max: Duration | None = Field(None, description="closed model: pause drawn in [wait_time, this]")
    locustfile: str | None = Field(None, description="your own locustfile (closed model), relative to the working dir")
    workers: int = Field(1, ge=1, le=64, description="Locust worker processes (> 1: master/worker mode)")

    @field_validator("locustfile")
    @classmethod
    def _locustfile_path(cls, value: str | None) -> str | None:
        return None if value is None else str(_resolve_path(value))

    @model_validator(mode="after")
    def _consistent(self) -> LoadSpec:
        if self.model == "closed":
            if self.rate_rps is not None or self.stages is not None or self.shape is not None:
                raise ValueError("the closed model takes users + duration, not rate_rps, stages or shape")
            if self.users is None or not self.duration:
                raise ValueError("the closed model needs users (>= 1) and duration (> 0)")
        else:
            has_constant = self.rate_rps is not None or self.duration is not None
            given = [n for n, on in (("rate_rps", has_constant), ("stages", self.stages is not None),
                                     ("shape", self.shape is not None)) if on]  # fmt: skip
            if len(given) > 1:
                raise ValueError(f"give one of rate_rps + duration, stages or shape (got {' and '.join(given)})")
            if not given or self.stages == []:
                raise ValueError("give rate_rps + duration (constant load), a non-empty stages list, or a shape")
            if has_constant and (self.rate_rps is None or not self.duration):
                raise ValueError("constant load needs both rate_rps (> 0) and duration (> 0)")
            if self.users is not None or self.locustfile is not None:
                raise ValueError("users and locustfile belong to the closed model: add model: closed")
        if self.wait_time_max is not None and self.wait_time_max < self.wait_time:
            raise ValueError("wait_time_max must be >= wait_time")
        if not 0 < self.duration_s < math.inf:
            raise ValueError(f"the load lasts {self.duration_s:g}s in all; it must last a finite time > 0")
        return self

    @property
    def resolved_shape(self) -> Any:
        """The open model's shape (the shorthands as shape models); None for the closed model."""
        if self.model == "closed":
            return None
        if self.shape is not None:
            return self.shape
        if self.stages is not None:
            return StagesShape(kind="stages", start_rps=self.start_rps, stages=self.stages)
        return ConstantShape(kind="constant", rate_rps=float(self.rate_rps or 0), duration=float(self.duration or 0))

    @property
    def duration_s(self) -> float:
        """Total load duration in seconds."""
        shape = self.resolved_shape
        return float(self.duration or 0.0) if shape is None else shape_duration_s(shape)

    @property
    def path(self) -> str:
        """The request path: ``endpoint`` or the workload's default."""
        return self.endpoint or _DEFAULT_ENDPOINT[self.workload.kind]


class TargetSpec(_Model):
    """An endpoint that is already running: the load goes there and no service is deployed."""

    url: str = Field(pattern=r"^https?://[^/\s]+", description="base URL, e.g. http://127.0.0.1:8000")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request")
    bearer_token_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="environment variable holding a bearer token"
    )
    probe: bool = Field(True, description="check that the URL answers before the load starts")


class FaultSpec(_Model):
    """One Chaos Toolkit experiment started ``at`` seconds after the load starts (docs/chaos.md)."""

    at: Duration = Field(description="when the experiment starts, counted from the load start")
    experiment: str = Field(min_length=1, description="Chaos Toolkit experiment file, relative to the working dir")
    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64, description="default: the file's stem"
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="configuration overrides, like `chaos run --var`")
    window: Duration | None = Field(None, description="fault window length; default: until experiment end/recovery")
    settle: Duration = Field(5.0, gt=0, description="how long the SLOs must hold again for time_to_slo_s")


class SloSpec(_Model):
    """One SLO with its weight in the resilience score (k6's object form: ``{threshold: "p(95) < 500"}``)."""

    threshold: str = Field(description="k6 threshold expression, e.g. 'p(95) < 500'")
    severity: Literal["critical", "warning"] = Field("critical", description="critical weighs 3, warning 1")
    weight: float | None = Field(None, gt=0, description="weight in the resilience score (default: the severity's)")


class CostSpec(_Model):
    """Prices that turn the replicas a run held into cost_usd (docs/reports.md#cost)."""

    gpu_hour_usd: float = Field(0.0, ge=0, description="price of one GPU for an hour (each replica holds pod.gpus)")
    cpu_hour_usd: float = Field(0.0, ge=0, description="price of one core for an hour (each replica: pod.cpu_request)")
    node_hour_usd: float = Field(0.0, ge=0, description="price of one node for an hour (nodes in the timeline)")
    memory_gib_hour_usd: float = Field(
        0.0, ge=0, description="price of one GiB of memory for an hour (right-sizing: requested vs recommended)"
    )


class CapacityPlanSpec(_Model):
    """What ``kibench capacity`` plans for once it knows one replica's rate (docs/capacity.md#planner)."""

    peak_rps: float | None = Field(None, gt=0, description="plan replicas, nodes and cost for this peak rate")
    trace: str | None = Field(None, description="CSV of time_s,rate_rps to plan replicas over time (and the HPA)")
    utilization_target: float = Field(0.8, gt=0, le=1, description="share of the found per-replica rate to use")
    failures_tolerated: int = Field(1, ge=0, le=64, description="replicas that may fail at peak (N+k headroom)")
    scale_up_lag: Duration | None = Field(
        None, description="scale decision -> new replica Ready; unset: measured (lag_run, else this search's start)"
    )
    lag_run: str | None = Field(None, description="a run folder whose timeline has HPA scale-ups to measure the lag")
    headroom_run: str | None = Field(
        None, description="a pod-kill run folder: failure headroom from the replicas it lost (docs/capacity.md)"
    )

    @field_validator("trace", "lag_run", "headroom_run")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        return None if value is None else str(_resolve_path(value))


class CapacitySpec(_Model):
    """``kibench capacity``: the search for one replica's rate at the SLO and the planner (docs/capacity.md)."""

    probe_requests: int = Field(1500, ge=10, description="a probe lasts long enough for this many requests")
    min_probe: Duration = Field(10.0, gt=0, description="shortest probe (warm-up included)")
    max_probe: Duration = Field(600.0, gt=0, description="longest probe (warm-up included)")
    warmup: Duration = Field(5.0, description="the start of each probe left out of its margins")
    calibrate_users: int = Field(32, ge=1, le=10_000, description="closed-loop users of the calibration burst")
    calibrate: Duration = Field(10.0, gt=0, description="length of the calibration burst")
    start_fraction: float = Field(0.25, gt=0, le=1, description="first open-model probe, share of the burst's rate")
    bracket_pct: float = Field(5.0, gt=0, le=50, description="stop when first failing / last passing - 1 <= this")
    max_probes: int = Field(12, ge=2, le=100, description="bracket + refine probes at most")
    confirm_repeats: int = Field(3, ge=1, le=20, description="repeats at the found rate and confirm_step_pct below")
    confirm_step_pct: float = Field(5.0, gt=0, le=50, description="the second confirm rate, % below the found one")
    min_achieved: float = Field(0.98, gt=0, le=1, description="a probe fails when achieved / requested is below")
    windows: int = Field(10, ge=4, le=1000, description="blocks of each probe (bootstrap, over-saturation slopes)")
    resamples: int = Field(1000, ge=100, le=100_000, description="bootstrap resamples of the confirm interval")
    min_rate_rps: float = Field(0.05, gt=0, description="below this no probe is tried: no rate meets the SLO")
    plan: CapacityPlanSpec = CapacityPlanSpec()


class Scenario(_Model):
    """A complete benchmark scenario."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    description: str = ""
    platform: PlatformSpec = PlatformSpec()
    service: ServiceSpec = ServiceSpec()
    load: LoadSpec
    target: TargetSpec | None = Field(None, description="send the load to this running endpoint; deploy nothing")
    slos: dict[str, list[str | SloSpec]] = Field(
        default_factory=dict, description="k6-style thresholds per metric (or metric{phase:NAME})"
    )
    slo_defaults: bool = Field(
        True, description="add the default SLOs (errors, load generator and rate self-checks) unless slos override"
    )
    faults: list[FaultSpec] = Field(default_factory=list, description="Chaos Toolkit experiments on a schedule")
    cost: CostSpec | None = Field(None, description="prices for cost_usd, cost_per_1k_requests, cost_per_1m_tokens")
    capacity: CapacitySpec | None = Field(None, description="kibench capacity: search and planner settings")

    @model_validator(mode="before")
    @classmethod
    def _platform_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("platform"), str):
            data = {**data, "platform": {"kind": data["platform"]}}
        return data

    @model_validator(mode="after")
    def _pod_resources(self) -> Scenario:
        pod = self.platform.pod
        update = deployspec.pod_update(self.service.resources, pod.gpus, pod.cpu_request, pod.model_fields_set)
        if not update:
            return self
        platform = self.platform.model_copy(update={"pod": pod.model_copy(update=update)})
        return self.model_copy(update={"platform": platform})

    @model_validator(mode="after")
    def _faults_within_load(self) -> Scenario:
        if self.faults and self.target is not None:
            raise ValueError("faults need a platform kibench deploys; remove target (an external endpoint) or faults")
        for i, fault in enumerate(self.faults):
            if fault.at >= self.load.duration_s:
                raise ValueError(
                    f"faults[{i}].at: {fault.at:g}s is not before the load ends ({self.load.duration_s:g}s); "
                    "lower it or lengthen the load"
                )
        return self

    def thresholds(self) -> list[thresholds.Threshold]:
        """Every SLO, parsed (already validated at load time)."""
        return [_parse_slo(m, e) for m, exprs in self.slos.items() for e in exprs]

    def phase_names(self) -> list[str]:
        """Phases an SLO may name: the load shape's (as harness.load.shapes names them), ``spike`` for a
        spike shape, each fault's window (its name) and ``steady_state`` (docs/reports.md#phases)."""
        shape = self.load.resolved_shape
        kind = "closed" if shape is None else shape.kind
        spike = ["before", "rise", "peak", "fall", "after", "spike"]
        names = {"constant": ["steady"], "spike": spike}.get(kind, [kind])
        if isinstance(shape, StagesShape):
            names = [f"stage-{i}" for i in range(len(shape.stages))]
        elif isinstance(shape, StepShape):
            names = [f"step-{i}" for i in range(shape.steps)]
        faults = [f.name or Path(f.experiment).stem for f in self.faults]
        return [*names, *faults, "steady_state"]


def _parse_slo(metric: str, entry: str | SloSpec) -> thresholds.Threshold:
    if isinstance(entry, SloSpec):
        return thresholds.parse(metric, entry.threshold, entry.severity, entry.weight)
    return thresholds.parse(metric, entry)


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file; every failure is a ScenarioError naming the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), "", f"cannot read the file ({exc.strerror}); check the path") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), "", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(str(path), where, f"not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits; nested too deeply
        raise ScenarioError(str(path), "", f"not valid YAML ({_yaml_limit(exc)})") from None
    if not isinstance(data, dict):
        raise ScenarioError(str(path), "", "the file must be a YAML mapping with at least 'name' and 'load'")
    for override in overrides:
        data = apply_override(data, override, str(path))
    return validate(data, str(path))


def validate(data: dict[str, Any], source: str) -> Scenario:
    """Validate a scenario mapping; ``source`` names it in error messages."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _scenario_error(exc, source) from None
    phases = scenario.phase_names()
    for metric, exprs in scenario.slos.items():
        for i, expr in enumerate(exprs):
            try:
                threshold = _parse_slo(metric, expr)
            except ThresholdError as exc:
                raise ScenarioError(source, f"slos.{metric}[{i}]", str(exc)) from None
            if threshold.phase is not None and threshold.phase not in phases:
                problem = f"this scenario has no phase {threshold.phase!r}; its phases: {', '.join(phases)}"
                raise ScenarioError(source, f"slos.{metric}", problem)
    return scenario


def _scenario_error(exc: ValidationError, source: str) -> ScenarioError:
    errors = [e for e in exc.errors() if not _str_member_of_mapping(e)] or exc.errors()
    err = errors[0]
    field = _format_loc(err["loc"])
    problem = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        problem = "unknown field; remove it or fix its spelling" + _suggest(err["loc"])
    elif err["type"] == "missing":
        problem = "required field is missing; add it (see `kibench schema` or the README)"
    elif err["type"] in _BOUNDS:
        bound = err["ctx"][_BOUND_KEY[err["type"]]]
        problem = f"must be {_BOUNDS[err['type']]} {bound:g} (got {err['input']!r})"
    elif "input" in err and err["type"] not in ("value_error", "model_type"):
        problem = f"{problem} (got {err['input']!r})"
    more = len(errors) - 1
    if more:
        problem += f" ({more} more problem{'s' if more > 1 else ''} after this one)"
    return ScenarioError(source, field, problem)


def _str_member_of_mapping(err: Any) -> bool:
    """A mapping tried against the ``str`` member of a ``str | Model`` union (``slos``' entries): the model's
    own errors say what is wrong with it."""
    return err["type"] == "string_type" and err["loc"][-1:] == ("str",) and isinstance(err.get("input"), dict)


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_BOUND_KEY = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-union[")) and part not in ("str", "SloSpec"):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _suggest(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] | None = Scenario
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def apply_override(data: dict[str, Any], override: str, source: str) -> dict[str, Any]:
    """Apply ``path.to.field=VALUE`` (VALUE parsed as YAML; list items as ``[i]`` or ``.i``)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(source, f"--set {override}", "write --set path.to.field=VALUE")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, f"--set {key}", f"VALUE is not valid YAML ({exc})") from exc
    except (ValueError, RecursionError) as exc:
        raise ScenarioError(source, f"--set {key}", f"VALUE is not valid YAML ({_yaml_limit(exc)})") from None
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(key.strip()):
        parts.append(int(index) if index else (int(name) if name.isdigit() else name))
    if not parts:
        raise ScenarioError(source, f"--set {override}", "no field named; write --set path.to.field=VALUE")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        else:
            raise ScenarioError(source, f"--set {key}", f"cannot descend into {part!r}; check the path")
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int) and last <= len(node):
        node[last : last + 1] = [value]
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError(source, f"--set {key}", f"cannot set {last!r}; check the path")
    return data


def _yaml_limit(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def json_schema() -> dict[str, Any]:
    """The scenario's JSON Schema (``kibench schema``)."""
    return Scenario.model_json_schema()


def dump(scenario: Scenario) -> str:
    """The resolved scenario as YAML (written to the run folder)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False)
