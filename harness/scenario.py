"""The scenario file: pydantic models, loading with ``--set`` overrides, validation errors, JSON Schema.

In: a YAML file path and optional ``path.to.field=VALUE`` overrides.  Out: a validated ``Scenario``
(durations already converted to seconds) or a ``ScenarioError`` (exit 2) whose message names the
file, the field path and the fix.  ``json_schema()`` exports the schema for editors and CI.

Durations are written as strings (``500ms``, ``30s``, ``5m``, ``1h``) or plain numbers of seconds.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from harness import thresholds
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
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class PodSpec(_Model):
    """What each replica (pod) asks for and how it is stopped and restarted."""

    cpu_request: float = Field(1.0, gt=0, description="CPU request in cores; CPU utilization is measured against it")
    gpus: int = Field(1, ge=0, le=64, description="GPU slots each replica needs on its node")
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


class NodesSpec(_Model):
    """The virtual nodes replicas are scheduled on."""

    count: int = Field(2, ge=0, le=64, description="nodes at start")
    gpu_slots: int = Field(8, ge=1, le=64, description="GPU slots per node")
    eviction_delay: Duration = Field(300.0, description="NotReady node -> its pods are evicted (tolerationSeconds)")
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


class PlatformSpec(_Model):
    """Where the service runs.  ``local`` is the embedded platform (no cluster, no Docker)."""

    kind: Literal["local"] = "local"
    ready_timeout: Duration = Field(60.0, description="how long to wait for the initial replicas to be Ready")
    nodes: NodesSpec = NodesSpec()
    pod: PodSpec = PodSpec()
    probes: ProbesSpec = ProbesSpec()
    rollout: RolloutSpec = RolloutSpec()
    pdb: DisruptionBudgetSpec | None = Field(None, description="PodDisruptionBudget honoured by drains")
    hpa: HpaSettings = HpaSettings()


class ServiceSpec(_Model):
    """The reference inference service to deploy."""

    replicas: int = Field(2, ge=1, le=64, description="initial number of replicas")
    backend: Literal["emulated"] = "emulated"
    device_time_ms: float = Field(50.0, ge=0, description="emulated device time per request")
    cold_start: Duration = Field(1.0, description="time from process start until /readyz answers 200")


class Stage(_Model):
    """One stage of the arrival rate: ramp linearly to ``target_rps`` over ``duration`` (k6 style)."""

    duration: Duration
    target_rps: float = Field(ge=0)


class LoadSpec(_Model):
    """Open-model load: a constant ``rate_rps`` for ``duration``, or piecewise-linear ``stages``."""

    rate_rps: float | None = Field(None, gt=0, description="constant arrival rate")
    duration: Duration | None = Field(None, description="how long the constant rate lasts")
    start_rps: float = Field(0.0, ge=0, description="rate at t=0 when stages are used")
    stages: list[Stage] | None = None
    max_concurrency: int = Field(256, ge=1, description="cap on requests in flight; arrivals over it are dropped")
    timeout: Duration = Field(10.0, description="per-request timeout")
    endpoint: str = Field("/v1/predict", description="path requests are sent to")

    @model_validator(mode="after")
    def _one_shape(self) -> LoadSpec:
        has_constant = self.rate_rps is not None or self.duration is not None
        if has_constant and self.stages is not None:
            raise ValueError("give either rate_rps + duration or stages, not both")
        if not has_constant and not self.stages:
            raise ValueError("give rate_rps + duration (constant load) or a non-empty stages list")
        if has_constant and (self.rate_rps is None or not self.duration):
            raise ValueError("constant load needs both rate_rps (> 0) and duration (> 0)")
        return self

    @property
    def duration_s(self) -> float:
        """Total load duration in seconds."""
        if self.stages is not None:
            return sum(stage.duration for stage in self.stages)
        return float(self.duration or 0.0)


class Scenario(_Model):
    """A complete benchmark scenario."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64)
    description: str = ""
    platform: PlatformSpec = PlatformSpec()
    service: ServiceSpec = ServiceSpec()
    load: LoadSpec
    slos: dict[str, list[str]] = Field(default_factory=dict, description="k6-style thresholds per metric")

    @model_validator(mode="before")
    @classmethod
    def _platform_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("platform"), str):
            data = {**data, "platform": {"kind": data["platform"]}}
        return data

    def thresholds(self) -> list[thresholds.Threshold]:
        """Every SLO, parsed (already validated at load time)."""
        return [thresholds.parse(m, e) for m, exprs in self.slos.items() for e in exprs]


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file; every failure is a ScenarioError naming the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), "", f"cannot read the file ({exc.strerror}); check the path") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(str(path), where, f"not valid YAML ({getattr(exc, 'problem', exc)})") from exc
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
    for metric, exprs in scenario.slos.items():
        for i, expr in enumerate(exprs):
            try:
                thresholds.parse(metric, expr)
            except ThresholdError as exc:
                raise ScenarioError(source, f"slos.{metric}[{i}]", str(exc)) from None
    return scenario


def _scenario_error(exc: ValidationError, source: str) -> ScenarioError:
    err = exc.errors()[0]
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
    more = len(exc.errors()) - 1
    if more:
        problem += f" ({more} more problem{'s' if more > 1 else ''} after this one)"
    return ScenarioError(source, field, problem)


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_BOUND_KEY = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-"):
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
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(key.strip()):
        parts.append(int(index) if index else (int(name) if name.isdigit() else name))
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


def json_schema() -> dict[str, Any]:
    """The scenario's JSON Schema (``kibench schema``)."""
    return Scenario.model_json_schema()


def dump(scenario: Scenario) -> str:
    """The resolved scenario as YAML (written to the run folder)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False)
