"""The load's arrival-rate shapes (docs/load.md): constant, stages, spike, step, sine/diurnal, trace.

In: a ``load.shape`` mapping (``kind`` picks the model) or a trace CSV.  Out: a frozen shape model whose
``duration_s`` is its total time in seconds; ``Shape`` is the tagged union ``LoadSpec`` takes, ``AnyShape`` the
plain union to ``match`` on (``harness.load.shapes`` turns shapes into rate segments).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.scenario.units import Duration, _Model, _resolve_path


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

    @property
    def duration_s(self) -> float:
        """Total time in seconds."""
        return float(self.duration)


class StagesShape(_Model):
    """Piecewise-linear rate from ``start_rps`` through each stage's ``target_rps`` (k6 ramping-arrival-rate)."""

    kind: Literal["stages"]
    start_rps: float = Field(0.0, ge=0, description="rate at t=0")
    stages: list[Stage] = Field(min_length=1, description="ramp linearly to target_rps over duration, in order")

    @property
    def duration_s(self) -> float:
        """Total time in seconds."""
        return sum(stage.duration for stage in self.stages)


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

    @property
    def duration_s(self) -> float:
        """Total time in seconds."""
        return self.before + self.rise + self.hold + self.fall + self.after


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

    @property
    def duration_s(self) -> float:
        """Total time in seconds."""
        return self.steps * self.step_duration


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

    @property
    def duration_s(self) -> float:
        """Total time in seconds."""
        return float(self.duration)


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

    @property
    def duration_s(self) -> float:
        """Total time in seconds: first to last point, scaled."""
        pts = self.points or [(0.0, 0.0)]
        return (pts[-1][0] - pts[0][0]) * self.time_scale


#: Every shape; ``match`` on it with ``assert_never`` in the default case so that a new shape is not forgotten.
AnyShape = ConstantShape | StagesShape | SpikeShape | StepShape | SineShape | TraceShape
Shape = Annotated[AnyShape, Field(discriminator="kind")]


def shape_duration_s(shape: AnyShape) -> float:
    """Total time of a shape in seconds (its ``duration_s``)."""
    return shape.duration_s
