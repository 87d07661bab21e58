"""The scenario's ``capacity`` section: ``kibench capacity``'s search and planner settings (docs/capacity.md).

In: the ``capacity`` mapping.  Out: a frozen ``CapacitySpec`` (with its ``CapacityPlanSpec``; paths made absolute).
"""

from __future__ import annotations

from pydantic import Field, field_validator

from harness.scenario.units import Duration, _Model, _resolve_path


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
    confirm_max_repeats: int = Field(
        5, ge=1, le=50, description="when the confirm repeats' verdicts split, more repeats up to this many"
    )
    confirm_bisections: int = Field(
        1, ge=0, le=5, description="confirm rates that halve the gap above the highest one that held"
    )
    min_achieved: float = Field(0.98, gt=0, le=1, description="a probe fails when achieved / requested is below")
    windows: int = Field(10, ge=4, le=1000, description="blocks of each probe (bootstrap, over-saturation slopes)")
    resamples: int = Field(1000, ge=100, le=100_000, description="bootstrap resamples of the confirm interval")
    min_rate_rps: float = Field(0.05, gt=0, description="below this no probe is tried: no rate meets the SLO")
    plan: CapacityPlanSpec = CapacityPlanSpec()
