"""Write a capacity search's results into ``<run>/capacity/``.

In: the probes, the ``Boundary`` (None when the search ended early), the plan section (peak, trace,
targets), the planner's inputs and trace points, and the error that ended the search (or None).  Out:
``probes.parquet`` (one row per probe), ``capacity.json`` (the boundary, its interval, the plan and the
error), ``plan.csv`` and ``plan.md`` (when there is a rate to plan with) and the plots (plots.py).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from harness.capacity.model import Boundary, ProbeRecord
from harness.capacity.planner import PlanInputs, PlanRow, plan_peak, plan_trace, trace_totals
from harness.runio import write_atomic, write_json, write_with


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return None if not math.isfinite(obj) else round(obj, 6)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


def make_plan(plan: Any, inputs: PlanInputs | None, trace: list[tuple[float, float]] | None) -> dict[str, Any] | None:
    """The plan as JSON-ready data: rows (peak and/or trace), the HPA suggestion and totals."""
    if inputs is None or (plan.peak_rps is None and trace is None):
        return None
    out: dict[str, Any] = {"inputs": asdict(inputs)}
    if plan.peak_rps is not None:
        out["peak"] = asdict(plan_peak(plan.peak_rps, inputs))
    if trace is not None:
        rows, hpa = plan_trace(trace, inputs)
        out["trace"] = {
            "file": plan.trace,
            "rows": [asdict(r) for r in rows],
            "hpa": asdict(hpa),
            "totals": trace_totals(rows, inputs),
            "peak": asdict(max(rows, key=lambda r: r.rate_rps)),
        }
    return out


def write_outputs(
    root: Path,
    probes: list[ProbeRecord],
    boundary: Boundary | None,
    plan: Any,
    inputs: PlanInputs | None,
    trace: list[tuple[float, float]] | None,
    error: Exception | None,
) -> list[Path]:
    """Write every output that the search's state allows (see the module docstring)."""
    from harness.capacity.plots import write_plots

    folder = root / "capacity"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    frame = pd.DataFrame([p.row() for p in probes])
    written.append(write_with(folder / "probes.parquet", lambda tmp: frame.to_parquet(tmp, index=False)))
    planned = make_plan(plan, inputs, trace)
    doc = {
        "schema_version": 1,
        "boundary": None if boundary is None else asdict(boundary),
        "plan": planned,
        "probes": len(probes),
        "error": None if error is None else str(error),
        "exit_code": None if error is None else getattr(error, "exit_code", None),
    }
    written.append(write_json(folder / "capacity.json", _clean(doc)))
    if planned is not None:
        rows = ([planned["peak"]] if "peak" in planned else []) + (planned.get("trace") or {}).get("rows", [])
        table = pd.DataFrame(rows)
        written.append(write_with(folder / "plan.csv", lambda tmp: table.to_csv(tmp, index=False)))
    written.append(write_atomic(folder / "plan.md", plan_markdown(boundary, planned, probes, error)))
    written.extend(write_plots(folder, probes, boundary, planned))
    return written


def _money(x: float | None) -> str:
    return "n/a" if x is None else f"${x:,.2f}"


def _row_line(label: str, r: dict[str, Any]) -> str:
    nodes = "n/a" if r["nodes"] is None else str(r["nodes"])
    return (
        f"| {label} | {r['rate_rps']:.4g} | {r['base_replicas']} + {r['failure_replicas']} + {r['lag_replicas']} "
        f"= **{r['replicas']}** | {nodes} | {_money(r['cost_per_hour_usd'])} | {_money(r['cost_per_day_usd'])} | "
        f"{_money(r['cost_per_1m_requests_usd'])} | {_money(r['cost_per_1m_tokens_usd'])} |"
    )


def headroom_line(planned: dict[str, Any]) -> str:
    """Where the failure headroom comes from, and what a failure at the peak would queue without it."""
    inp = planned["inputs"]
    if inp.get("failure_lost_replicas") is None:
        return f"{inp['failures_tolerated']} replica(s) (capacity.plan.failures_tolerated)."
    text = f"measured ({inp['headroom_source']}); {inp['failures_tolerated']} such failure(s) at once."
    peak: dict[str, Any] = planned.get("peak") or (planned.get("trace") or {}).get("peak") or {}
    backlog = peak.get("failure_backlog_requests")
    if backlog is not None:
        text += f" Without it a failure at {peak['rate_rps']:.4g} rps would queue {backlog:,.0f} requests."
    return text


def plan_markdown(
    boundary: Boundary | None, planned: dict[str, Any] | None, probes: list[ProbeRecord], error: Exception | None
) -> str:
    """plan.md: the boundary, then the plan (peak and trace), then the probes."""
    lines = ["# Capacity", ""]
    if error is not None:
        lines += [f"**The search ended early:** {error}", ""]
    if boundary is not None:
        b = boundary
        found = "not confirmed" if b.found_rps is None else f"**{b.found_rps:.4g} rps** per replica"
        if b.found_rps is not None and b.confirmed_rate_rps is not None and b.confirmed_rate_rps != b.found_rps:
            found += f" (what the repeats served of the {b.confirmed_rate_rps:.4g} rps that held)"
        lines += [
            f"- found: {found} ({'confirmed' if b.confirmed else 'unconfirmed'} by repeats)",
            f"- last passing {b.last_passing_rps and round(b.last_passing_rps, 4)} rps, first failing "
            f"{b.first_failing_rps and round(b.first_failing_rps, 4)} rps; binding SLO: {b.binding_slo} "
            f"({b.binding_reason}); boundary: {b.shape}",
            f"- calibration burst: {b.raw_rps and round(b.raw_rps, 4)} rps; {b.probes_used} search probes; "
            f"converged: {b.converged}",
        ]
        for key, (lo, hi) in b.margin_interval.items():
            lines.append(f"- margin of {key} at the confirmed rate: [{lo:+.1%}, {hi:+.1%}] (95 % block bootstrap)")
        lines += [f"- note: {n}" for n in b.notes] + [""]
    if planned is not None:
        inp = planned["inputs"]
        lines += [
            "## Plan",
            "",
            f"Per replica {inp['per_replica_rps']:.4g} rps at {inp['utilization_target']:.0%} utilisation, "
            f"{inp['failures_tolerated']} failure(s) tolerated, scale-up lag {inp['scale_up_lag_s']:.1f} s "
            f"({inp['lag_source']}), {inp['gpus_per_replica']} GPU(s) per replica, "
            f"{inp['gpu_slots_per_node']} slots per node.",
            "",
            f"Failure headroom: {headroom_line(planned)}",
            "",
            "| | rate rps | replicas (base + failures + lag) | nodes | per hour | per day | per 1M requests "
            "| per 1M tokens |",
            "|---|---|---|---|---|---|---|---|",
        ]
        if "peak" in planned:
            lines.append(_row_line("peak", planned["peak"]))
        if "trace" in planned:
            tr = planned["trace"]
            lines.append(_row_line("trace peak", tr["peak"]))
            hpa, tot = tr["hpa"], tr["totals"]
            flight = hpa["target_in_flight_per_replica"]
            lines += [
                "",
                f"Trace {tr['file']}: {tot['hours']:.2f} h, {tot['requests']:,.0f} requests; following it "
                f"costs {_money(tot['cost_following_usd'])} ({_money(tot['cost_per_1m_requests_usd'])} per 1M "
                f"requests) against {_money(tot['cost_peak_static_usd'])} holding the peak's replicas.",
                "",
                f"HPA: minReplicas {hpa['min_replicas']}, maxReplicas {hpa['max_replicas']}, target "
                f"{hpa['target_rps_per_replica']:.4g} rps per replica ({hpa['target_utilization']:.0%} of the "
                "found rate)" + ("" if flight is None else f", or in_flight averageValue {flight:.3g}") + ".",
            ]
        lines.append("")
    if probes:
        lines += [
            "## Probes",
            "",
            "| # | kind | rate rps | pass | p95 ms | achieved | why |",
            "|---|---|---|---|---|---|---|",
        ]
        for p in probes:
            p95 = "n/a" if p.latency_p95_ms is None else f"{p.latency_p95_ms:.1f}"
            ach = "n/a" if p.achieved_ratio is None else f"{p.achieved_ratio:.3f}"
            lines.append(
                f"| {p.index} | {p.kind} | {p.rate_rps:.4g} | {'yes' if p.passed else 'no'} | {p95} | {ach} "
                f"| {'; '.join(p.reasons)} |"
            )
    return "\n".join(lines) + "\n"


__all__ = ["headroom_line", "make_plan", "plan_markdown", "write_outputs", "PlanRow"]
