"""The capacity search's data at its boundaries: one probe's outcome and the search's answer.

In: nothing (plain frozen dataclasses).  Out: ``ProbeRecord`` (one row of probes.parquet) and ``Boundary``
(capacity.json's answer), shared by the search, the planner and the writers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("calibrate", "bracket", "refine", "confirm")


@dataclass(frozen=True)
class ProbeRecord:
    """One probe: an ordinary run folder at one offered rate, judged on its steady part (warm-up left out).

    ``margins`` per SLO key: observed / limit - 1 for an upper limit (1 - observed / limit for a lower one),
    so a margin below 0 is inside the SLO; None when the probe had no data for it.  ``reasons`` name why
    a probe failed (empty when it passed).  ``slos_held``: every SLO held (a failure, if any, was a rule's).
    ``pooled_with``: a search probe that failed on a rule alone is run again at its rate and the two are judged
    together (confirm.pooled_failures); each then carries the pair's verdict and the other's index."""

    index: int
    kind: str
    rate_rps: float
    run_dir: str
    passed: bool
    reasons: tuple[str, ...] = ()
    margins: dict[str, float | None] = field(default_factory=dict)
    values: dict[str, float | None] = field(default_factory=dict)
    requests: int = 0
    duration_s: float = 0.0
    throughput_rps: float | None = None
    goodput_rps: float | None = None
    achieved_ratio: float | None = None
    loadgen_saturated: bool = False
    oversaturated: bool = False
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    latency_p99_ms: float | None = None
    ttft_p95_ms: float | None = None
    in_flight_mean: float | None = None
    tokens_per_request: float | None = None
    host_saturated: bool = False
    slos_held: bool = True
    pooled_with: int | None = None

    def row(self) -> dict[str, Any]:
        """A flat row for probes.parquet: ``margin:<key>`` and ``value:<key>`` columns per SLO."""
        data = asdict(self)
        margins, values = data.pop("margins"), data.pop("values")
        data["reasons"] = "; ".join(self.reasons)
        data.update({f"margin:{k}": v for k, v in margins.items()})
        data.update({f"value:{k}": v for k, v in values.items()})
        return data


@dataclass(frozen=True)
class Boundary:
    """The search's answer: the highest confirmed rate and what bounds it.

    ``confirmed_rate_rps``: the requested rate of the highest confirm rung that held; ``found_rps`` is that
    rate times the share of it its repeats served, when under 1 (confirm.Rung.answer_rps)."""

    found_rps: float | None
    confirmed: bool
    last_passing_rps: float | None
    first_failing_rps: float | None
    binding_slo: str | None
    binding_reason: str | None
    shape: str | None  # "cliff" | "slope"
    margin_interval: dict[str, tuple[float, float]]  # at found_rps, per SLO: the bootstrap interval
    raw_rps: float | None
    probes_used: int
    converged: bool
    notes: tuple[str, ...] = ()
    confirmed_rate_rps: float | None = None
