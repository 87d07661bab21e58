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


class PlatformSpec(_Model):
    """Where the service runs.  ``local`` is the embedded platform (no cluster, no Docker)."""

    kind: Literal["local"] = "local"
    ready_timeout: Duration = Field(60.0, description="how long to wait for the initial replicas to be Ready")


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
    elif "input" in err and err["type"] not in ("value_error", "model_type"):
        problem = f"{problem} (got {err['input']!r})"
    more = len(exc.errors()) - 1
    if more:
        problem += f" ({more} more problem{'s' if more > 1 else ''} after this one)"
    return ScenarioError(source, field, problem)


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
