"""The case-file format: a YAML list of HPA sync cases with expected outcomes, and their evaluation.

In: a path to a YAML file (untrusted input, validated with pydantic; a malformed file raises
``InputError`` naming the file, the case and the field).  Out: ``Case`` objects holding the typed
inputs of ``desired_replicas`` / ``normalize_replicas`` and an ``Expected``; ``evaluate`` returns a
``CaseResult`` per case.  ``shipped_case_files`` lists the ported upstream tables in ``cases/``.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from harness.autoscale.hpa import desired_replicas, normalize_replicas
from harness.autoscale.model import (
    Behavior,
    ControllerConfig,
    Decision,
    HpaSpec,
    HpaState,
    MetricSpec,
    PodSample,
    Recommendation,
    ScaleEvent,
    ScalingPolicy,
    ScalingRules,
)
from harness.errors import InputError


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyModel(_Model):
    type: Literal["Pods", "Percent"]
    value: int = Field(gt=0)
    period_s: int = Field(gt=0, le=1800)


class RulesModel(_Model):
    stabilization_window_s: float | None = Field(default=None, ge=0, le=3600)
    select_policy: Literal["Max", "Min", "Disabled"] | None = None
    policies: list[PolicyModel] | None = Field(default=None, min_length=1)
    tolerance: float | None = Field(default=None, ge=0)

    def build(self) -> ScalingRules:
        policies = None if self.policies is None else tuple(ScalingPolicy(**p.model_dump()) for p in self.policies)
        return ScalingRules(self.stabilization_window_s, self.select_policy, policies, self.tolerance)


class BehaviorModel(_Model):
    scale_up: RulesModel | None = None
    scale_down: RulesModel | None = None


class MetricModel(_Model):
    type: Literal["Resource", "ContainerResource", "Pods", "Object", "External"]
    name: str = Field(min_length=1)
    container: str | None = None
    utilization_pct: int | None = None
    average_value_milli: int | None = None
    value_milli: int | None = None

    @model_validator(mode="after")
    def _valid(self) -> MetricModel:
        self.build()  # MetricSpec's ValueError becomes a validation error at this metric's path
        return self

    def build(self) -> MetricSpec:
        return MetricSpec(**self.model_dump())


class SpecModel(_Model):
    min_replicas: int = Field(default=1, ge=0)
    max_replicas: int = Field(ge=1)
    metrics: list[MetricModel] = []
    behavior: BehaviorModel | None = None

    @model_validator(mode="after")
    def _valid(self) -> SpecModel:
        self.build()  # HpaSpec's ValueError (min above max) becomes a validation error at ``spec``
        return self

    def build(self) -> HpaSpec:
        behavior = None
        if self.behavior is not None:
            up, down = self.behavior.scale_up, self.behavior.scale_down
            behavior = Behavior(up.build() if up else None, down.build() if down else None)
        metrics = tuple(m.build() for m in self.metrics)
        return HpaSpec(self.max_replicas, metrics, self.min_replicas, behavior)


class ConfigModel(_Model):
    tolerance: float = Field(default=0.1, ge=0)
    cpu_initialization_period_s: float = Field(default=300.0, ge=0)
    initial_readiness_delay_s: float = Field(default=30.0, ge=0)
    downscale_stabilization_window_s: float = Field(default=300.0, ge=0)
    scale_up_limit_factor: float = Field(default=2.0, gt=0)
    scale_up_limit_minimum: float = Field(default=4.0, ge=0)


class PodModel(_Model):
    name: str = Field(min_length=1)
    phase: Literal["Pending", "Running", "Succeeded", "Failed", "Unknown"] = "Running"
    ready: bool | None = True
    start_s: float | None = 0.0
    ready_transition_s: float | None = None
    deleted: bool = False
    metric_timestamp_s: float | None = None
    metric_window_s: float = Field(default=60.0, ge=0)
    values_milli: dict[str, int] = {}
    requests_milli: dict[str, int] = {}


class RecommendationModel(_Model):
    replicas: int = Field(ge=0)
    timestamp_s: float


class EventModel(_Model):
    replica_change: int = Field(gt=0)
    timestamp_s: float
    outdated: bool = False


class HistoryModel(_Model):
    recommendations: list[RecommendationModel] = []
    scale_up_events: list[EventModel] = []
    scale_down_events: list[EventModel] = []

    def build(self) -> HpaState:
        return HpaState(
            tuple(Recommendation(**r.model_dump()) for r in self.recommendations),
            tuple(ScaleEvent(**e.model_dump()) for e in self.scale_up_events),
            tuple(ScaleEvent(**e.model_dump()) for e in self.scale_down_events),
        )


class ExpectedModel(_Model):
    replicas: int | None = Field(default=None, ge=0)
    metric_replicas: int | None = Field(default=None, ge=0)
    usage: int | None = None
    reason: str | None = None
    conditions: dict[Literal["AbleToScale", "ScalingActive", "ScalingLimited"], str | None] | None = None
    recommendations: list[int] | None = None

    @model_validator(mode="after")
    def _replicas_given(self) -> ExpectedModel:
        if self.replicas is None and self.metric_replicas is None:
            raise ValueError("give replicas (after normalization) or metric_replicas (the metrics' proposal)")
        return self


class CaseModel(_Model):
    name: str = Field(min_length=1)
    note: str | None = None
    config: ConfigModel = Field(default_factory=ConfigModel)
    spec: SpecModel
    current_replicas: int = Field(ge=0)
    status_replicas: int | None = Field(default=None, ge=0)
    pods: list[PodModel] = []
    samples_milli: dict[str, list[int]] = {}
    metric_desired_replicas: int | None = Field(default=None, ge=0)
    history: HistoryModel | None = None
    now_s: float
    expected: ExpectedModel


@dataclass(frozen=True)
class Case:
    """A validated case: the typed inputs and what is expected of the decision."""

    name: str
    model: CaseModel

    def run(self) -> Decision:
        m = self.model
        history = None if m.history is None else m.history.build()
        config = ControllerConfig(**m.config.model_dump())
        if m.metric_desired_replicas is not None:
            return normalize_replicas(
                m.spec.build(), m.current_replicas, m.metric_desired_replicas, history, m.now_s, config=config
            )
        pods = tuple(PodSample(**p.model_dump()) for p in m.pods)
        samples = {k: tuple(v) for k, v in m.samples_milli.items()}
        return desired_replicas(
            m.spec.build(),
            m.current_replicas,
            pods,
            samples,
            history,
            m.now_s,
            status_replicas=m.status_replicas,
            config=config,
        )


@dataclass(frozen=True)
class CaseResult:
    """One case's outcome: the headline numbers and every expectation that did not hold."""

    name: str
    expected: int
    got: int | None
    mismatches: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.mismatches


def _observed(decision: Decision) -> dict[str, Any]:
    first = decision.proposals[0] if decision.proposals else None
    return {
        "replicas": decision.desired_replicas,
        "metric_replicas": decision.metric_desired_replicas,
        "usage": first.usage if first else None,
        "reason": decision.reason,
        "conditions": {c.type: c.reason for c in decision.conditions},
        "recommendations": [r.replicas for r in decision.state.recommendations],
    }


def evaluate(case: Case) -> CaseResult:
    """Run one case and compare every field given under ``expected``."""
    expected = case.model.expected
    got = _observed(case.run())
    mismatches = []
    for field in ExpectedModel.model_fields:
        want = getattr(expected, field)
        if want is None:
            continue
        have = got[field]
        if field == "conditions":
            have = {k: have.get(k) for k in want}
        if have != want:
            mismatches.append(f"{field}: expected {want}, got {have}")
    headline = "replicas" if expected.replicas is not None else "metric_replicas"
    return CaseResult(case.name, getattr(expected, headline), got[headline], tuple(mismatches))


_CASES = TypeAdapter(list[CaseModel])


def _where(raw: Any, loc: tuple[int | str, ...]) -> str:
    """``[3] TestScaleUp: spec.metrics.0.utilization_pct`` from a pydantic error location."""
    if not loc or not isinstance(loc[0], int):
        return ".".join(map(str, loc)) or "(top level)"
    index, rest = loc[0], ".".join(map(str, loc[1:]))
    name = raw[index].get("name") if isinstance(raw[index], dict) else None
    label = f"case [{index}]" + (f" {name!r}" if name else "")
    return f"{label}: {rest}" if rest else label


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def load_case_file(path: str | Path) -> list[Case]:
    """Read and validate one case file; ``InputError`` (exit 2) says which file and field is wrong."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the case file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: not valid YAML: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # a date that does not exist, a huge integer; nested too deeply
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InputError(f"{path}: not valid YAML: {problem}") from None
    if not isinstance(raw, list):
        raise InputError(f"{path}: a case file is a YAML list of cases (got {type(raw).__name__})")
    try:
        models = _CASES.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        extra = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
        got = "" if first["type"] in ("missing", "value_error") else f" (got {_short(first['input'])})"
        msg = first["msg"].removeprefix("Value error, ")
        raise InputError(f"{path}: {_where(raw, first['loc'])}: {msg}{got}{extra}") from exc
    seen: set[str] = set()
    for i, m in enumerate(models):
        if m.name in seen:
            raise InputError(f"{path}: case [{i}] name: {m.name!r} is used twice; names must be unique")
        seen.add(m.name)
    return [Case(m.name, m) for m in models]


def shipped_case_files() -> list[Path]:
    """The ported upstream tables shipped with the package, sorted by name."""
    root = resources.files("harness.autoscale.cases")
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml"))
