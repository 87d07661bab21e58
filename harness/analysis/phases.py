"""Per-phase metrics: every request metric of the summary again for each phase of the run.

In: ``RunData``, the scenario, the per-fault dicts (``faults.fault_metrics``) and the run's ``Metrics``.
Out: one ``Phase`` per phase, in time order, each with a ``Metrics`` that SLOs such as
``latency_ms{phase:spike}: ["p(95) < 500"]`` are evaluated on (harness.analysis.slo), and ``to_json`` for
summary.json's ``phases``.  The phases:

* ``load``: each phase of the load shape as the load_phase events give it (``steady`` for a constant
  rate; ``before``/``rise``/``peak``/``fall``/``after`` for a spike; ``stage-N``; ``step-N``; ...); its
  requests are the rows whose ``phase`` column names it (the phase at the intended send time);
* ``spike`` (spike shapes only): rise + peak + fall together;
* ``fault``: each fault's window (``window_s`` of summary.json's fault), named after the fault; its
  requests are those in flight at any time in the window, as for ``failed_requests``;
* ``steady_state``: after the warm-up (``harness.model.default_warmup_s``) and outside every fault
  window; its rates are per second of that time.

Rates (throughput, goodput, tokens) are per second of the phase's duration; replica, cost and idle
gauges integrate the timeline over the phase's window; ``dropped_arrivals`` counts the dropped_arrivals
events' increments inside it.  Whole-run gauges (scaling, faults, load self-checks) have no phase value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.cost import BusyIntervals, cost_gauges, integrate
from harness.analysis.metrics import Metrics, trend_summary
from harness.analysis.runfolder import RunData
from harness.model import default_warmup_s
from harness.scenario import Scenario

_SPIKE_LEGS = ("rise", "peak", "fall")
_TRENDS = {"latency_ms": "latency_ms", "latency_raw_ms": "latency_raw_ms", "ttft_ms": "ttft_ms",
           "itl_ms": "itl_mean_ms", "itl_max_ms": "itl_max_ms"}  # fmt: skip


@dataclass
class Phase:
    name: str
    kind: str  # load | spike | fault | steady_state
    start_s: float
    end_s: float
    duration_s: float
    metrics: Metrics  # series kept only for the metrics a phase SLO names (memory: 10 M rows per phase)
    trends: dict[str, dict[str, float | None]]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "window_s": [round(self.start_s, 3), round(self.end_s, 3)],
            "duration_s": round(self.duration_s, 3),
            "metrics": {**self.metrics.gauges, **self.trends},
        }


@dataclass(frozen=True)
class _Context:
    data: RunData
    scenario: Scenario
    latency_limit_ms: float | None
    busy: BusyIntervals | None
    dropped: tuple[np.ndarray, np.ndarray]  # (t_s, cumulative dropped arrivals)
    dropped_total: float  # the load processes' own count (load-<worker>.json)
    keep: frozenset[str]  # series that phase SLOs aggregate


def phases(
    data: RunData,
    scenario: Scenario,
    faults: list[dict[str, Any]],
    run: Metrics,
    latency_limit_ms: float | None,
    busy: BusyIntervals | None,
) -> list[Phase]:
    """Every phase of the run with its metrics (see the module docstring)."""
    req = data.requests
    dropped_total = float(run.gauges.get("dropped_arrivals") or 0.0)
    keep = frozenset(t.metric for t in scenario.thresholds() if t.phase is not None)
    ctx = _Context(data, scenario, latency_limit_ms, busy, _dropped_series(data), dropped_total, keep)
    out: list[Phase] = []
    phase_col = req["phase"] if len(req) and "phase" in req else pd.Series([], dtype=object)
    windows = sorted(data.events_of("load_phase"), key=lambda e: float(e["start_s"]))
    for event in windows:
        name = str(event.get("phase"))
        start, end = float(event["start_s"]), float(event["end_s"])
        out.append(_phase(ctx, name, "load", start, end, end - start, (phase_col == name).to_numpy(dtype=bool)))
    legs = [e for e in windows if e.get("phase") in _SPIKE_LEGS]
    if legs and scenario.load.resolved_shape is not None and scenario.load.resolved_shape.kind == "spike":
        start, end = float(legs[0]["start_s"]), float(legs[-1]["end_s"])
        legs_mask = phase_col.isin(_SPIKE_LEGS).to_numpy(dtype=bool)
        out.append(_phase(ctx, "spike", "spike", start, end, end - start, legs_mask))
    intended = req["t_intended_s"].to_numpy(dtype=float) if len(req) else np.array([])
    done = req["t_sent_s"].to_numpy(dtype=float) + np.nan_to_num(req["latency_raw_ms"].to_numpy(dtype=float)) / 1e3
    fault_windows = []
    for fault in faults:
        a, b = (float(x) for x in fault["window_s"])
        fault_windows.append((a, b))
        out.append(_phase(ctx, str(fault["name"]), "fault", a, b, b - a, (intended <= b) & (done >= a)))
    load_start, load_end = run.window_s
    steady_from = load_start + default_warmup_s(load_end - load_start)
    mask = intended >= steady_from
    outside = max(load_end - steady_from, 0.0)
    for a, b in fault_windows:
        mask &= ~((intended >= a) & (intended <= b))
        outside -= max(0.0, min(b, load_end) - max(a, steady_from))
    out.append(_phase(ctx, "steady_state", "steady_state", steady_from, load_end, max(outside, 0.0), mask))
    return out


_COLUMNS = ("t_intended_s", "t_sent_s", "latency_ms", "latency_raw_ms", "ok", "tokens_out", "ttft_ms",
            "itl_mean_ms", "itl_max_ms")  # fmt: skip


def _phase(ctx: _Context, name: str, kind: str, start: float, end: float, duration: float, mask: Any) -> Phase:
    req = ctx.data.requests
    rows = _select(req, mask)
    span = max(duration, 1e-9)
    n = len(rows)
    ok = rows["ok"].astype(bool) if n else pd.Series(dtype=bool)
    n_ok = int(ok.sum())
    latency = rows["latency_ms"].astype(float) if n else pd.Series(dtype=float)
    good = ok if ctx.latency_limit_ms is None or not n else ok & (latency <= ctx.latency_limit_ms)
    tokens = pd.to_numeric(rows["tokens_out"], errors="coerce").dropna() if n and "tokens_out" in rows else None
    token_sum = float(tokens.sum()) if tokens is not None and len(tokens) else None
    timeline = ctx.data.timeline
    ready = timeline["ready_replicas"].to_numpy(dtype=float) if "ready_replicas" in timeline else None
    in_window = timeline[(timeline["t_s"] >= start) & (timeline["t_s"] <= end)] if ready is not None else timeline
    peak = float(in_window["ready_replicas"].max()) if ready is not None and len(in_window) else None
    gauges: dict[str, float | None] = {
        "requests": float(n),
        "error_rate": (n - n_ok) / n if n else None,
        "availability": n_ok / n if n else None,
        "throughput_rps": n / span,
        "goodput_rps": int(good.sum()) / span,
        "dropped_arrivals": _dropped_between(ctx.dropped, ctx.dropped_total, start, end),
        "output_tokens_per_s": None if token_sum is None else token_sum / span,
        "peak_ready_replicas": peak,
        "replica_seconds": None if ready is None else integrate(timeline, ready, start, end),
        **cost_gauges(timeline, ctx.scenario, start, end, n_ok, token_sum, ctx.busy),
    }
    series = {
        **{k: (rows[col].astype(float) if col in rows else pd.Series(dtype=float)) for k, col in _TRENDS.items()},
        "send_lag_ms": (rows["t_sent_s"].astype(float) - rows["t_intended_s"].astype(float)) * 1000.0,
        "errors": ~ok,
    }
    gauges = {k: None if v is None else round(float(v), 6) for k, v in gauges.items()}
    trends = {k: trend_summary(series[k]) for k in ("latency_ms", "latency_raw_ms", "send_lag_ms")}
    trends.update({k: trend_summary(series[k]) for k in ("ttft_ms", "itl_ms") if series[k].notna().any()})
    kept = {k: v for k, v in series.items() if k in ctx.keep}
    return Phase(name, kind, start, end, duration, Metrics(gauges, kept, (start, start + span)), trends)


def _select(req: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """The rows of a phase: the frame itself, or a slice, when the phase is one run of rows (rows are sorted by
    intended send time, so most phases are): no copy of millions of rows; else the needed columns, masked."""
    if not len(req):
        return req
    hits = np.flatnonzero(mask)
    if len(hits) == len(req):
        return req
    if not len(hits) or hits[-1] - hits[0] + 1 == len(hits):
        return req.iloc[hits[0] : hits[-1] + 1] if len(hits) else req.iloc[0:0]
    return req[[c for c in _COLUMNS if c in req]][mask]


def _dropped_series(data: RunData) -> tuple[np.ndarray, np.ndarray]:
    events = sorted(data.events_of("dropped_arrivals"), key=lambda e: float(e["t_s"]))
    return (np.array([float(e["t_s"]) for e in events]), np.array([float(e.get("dropped", 0)) for e in events]))


def _dropped_between(series: tuple[np.ndarray, np.ndarray], run_total: float, start: float, end: float) -> float | None:
    """Increase of the cumulative dropped count in (start, end]: 0 when the run dropped none, None when it
    dropped some but logged no dropped_arrivals events (runs before they were logged)."""
    t, total = series
    if not len(t):
        return 0.0 if run_total == 0 else None
    before = total[t <= start].max(initial=0.0)
    upto = total[t <= end].max(initial=0.0)
    return max(0.0, upto - before)
