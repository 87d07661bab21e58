"""Plan from a capacity search: the planner's inputs, a trace checked up front, re-planning a finished search,
and the search's report.html.

In: the scenario (``capacity.plan``, ``cost:``, ``platform.pod`` / ``nodes`` / ``hpa``), the ``Boundary`` and
probes of a search, the deployment's events (the replica's start time) and, with ``plan.headroom_run``, a
pod-kill run folder (its summary.json faults and timeline: the failure headroom, harness/capacity/headroom.py).
Out: ``PlanInputs`` for harness/capacity/planner.py; ``replan`` rewrites a finished search's ``capacity/``
and report.html from its files (no probe runs); ``CapacityOutcome`` is what ``kibench capacity`` reports either way.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console

from harness.capacity import Boundary, PlanInputs, ProbeRecord, write_outputs
from harness.errors import EXIT_SLO_FAILED, HarnessError, InputError
from harness.model import RunFiles
from harness.runio import read_events, read_timeline
from harness.scenario import CapacitySpec, Scenario, read_trace_csv


@dataclass(frozen=True)
class CapacityOutcome:
    run_dir: Path
    exit_code: int
    boundary: Boundary | None
    error: str | None = None


def plan_overrides(cap: CapacitySpec, peak_rps: float | None, trace: str | None, headroom_run: str | None) -> Any:
    """``capacity.plan`` with the command line's --peak, --trace and --headroom-from over it."""
    given = (("peak_rps", peak_rps), ("trace", trace), ("headroom_run", headroom_run))
    return cap.plan.model_copy(update={k: v for k, v in given if v is not None})


def plan_trace_points(path: str | None) -> list[tuple[float, float]] | None:
    """The plan's trace CSV read and checked before any probe runs (InputError, exit 2)."""
    from harness.capacity.planner import check_trace

    if path is None:
        return None
    try:
        points = read_trace_csv(Path(path))
    except ValueError as exc:
        raise InputError(f"capacity.plan.trace: {exc}") from None
    check_trace(points, f"capacity.plan.trace {path}")
    return points


def plan_inputs(
    scenario: Scenario, plan: Any, boundary: Boundary, probes: list[ProbeRecord], deploy_events: list[dict[str, Any]]
) -> PlanInputs | None:
    """The planner's inputs: the found rate, the lag (given, measured in lag_run, or this replica's start +
    one HPA sync period), GPU slots, prices, tokens and in-flight requests at the found rate."""
    from harness.capacity.lag import scale_up_lags, startup_s

    rate = boundary.found_rps or boundary.last_passing_rps
    if not rate:
        return None
    lag = plan.scale_up_lag
    lag_source = "capacity.plan.scale_up_lag"
    if lag is None and plan.lag_run:
        files = RunFiles(Path(plan.lag_run))
        table = read_timeline(files.timeline)
        if table is None:
            raise InputError(f"capacity.plan.lag_run: {plan.lag_run} has no timeline.parquet; give a run folder")
        tl = table.to_pandas()
        lags = scale_up_lags(
            read_events(files.events, []), tl["t_s"].to_numpy(float), tl["ready_replicas"].to_numpy(float)
        )
        if not lags:
            raise InputError(
                f"capacity.plan.lag_run: {plan.lag_run} has no scale-up that became Ready; "
                "give a run with an HPA scale-up (e.g. scenarios/spike.yaml) or set scale_up_lag"
            )
        lag, lag_source = max(lags), f"longest of {len(lags)} scale-ups in {plan.lag_run}"
    if lag is None:
        starts = startup_s(deploy_events)
        lag = (max(starts) if starts else scenario.service.cold_start) + scenario.platform.hpa.sync_period
        lag_source = "this search's replica start (pod created -> Ready) + one HPA sync period"
    headroom = headroom_inputs(plan.headroom_run) if plan.headroom_run else {}
    at = [p for p in probes if p.kind == "confirm" and math.isclose(p.rate_rps, rate, rel_tol=1e-4)] or probes
    tokens = [p.tokens_per_request for p in at if p.tokens_per_request]
    flight = [p.in_flight_mean for p in at if p.in_flight_mean is not None]
    price = scenario.cost
    return replace(
        PlanInputs(per_replica_rps=rate),
        utilization_target=plan.utilization_target,
        failures_tolerated=plan.failures_tolerated,
        scale_up_lag_s=float(lag),
        gpus_per_replica=scenario.platform.pod.gpus,
        cpu_per_replica=scenario.platform.pod.cpu_request,
        gpu_slots_per_node=scenario.platform.nodes.gpu_slots,
        gpu_hour_usd=price.gpu_hour_usd if price else 0.0,
        cpu_hour_usd=price.cpu_hour_usd if price else 0.0,
        node_hour_usd=price.node_hour_usd if price else 0.0,
        tokens_per_request=float(np.mean(tokens)) if tokens else None,
        in_flight_per_replica=float(np.mean(flight)) if flight else None,
        lag_source=lag_source,
        **headroom,
    )


def headroom_inputs(run: str) -> dict[str, Any]:
    """The planner's failure fields measured from a pod-kill run folder (InputError, exit 2, when it has none)."""
    from harness.capacity.headroom import failure_dip
    from harness.runio import read_json

    files = RunFiles(Path(run))
    field = "capacity.plan.headroom_run (--headroom-from)"
    try:
        summary = read_json(files.root / "summary.json")
    except HarnessError:
        raise InputError(f"{field}: {run} has no readable summary.json; give an analysed run folder") from None
    table = read_timeline(files.timeline)
    tl = table.to_pandas() if table is not None else pd.DataFrame(columns=["t_s", "ready_replicas"])
    dip = failure_dip(summary.get("faults") or [], tl["t_s"].to_numpy(float), tl["ready_replicas"].to_numpy(float))
    if dip is None:
        raise InputError(
            f"{field}: {run} has no injected fault that took a replica out; give a pod-kill run "
            "(e.g. kibench run scenarios/pod-kill-under-load.yaml) or drop it to use failures_tolerated"
        )
    lasted = "did not come back in the run" if dip.duration_s is None else f"back in {dip.duration_s:.3g} s"
    return {
        "failure_lost_replicas": dip.lost_replicas,
        "failure_duration_s": dip.duration_s,
        "failure_failed_requests": dip.failed_requests,
        "headroom_source": f"{dip.fault} in {run}: {dip.lost_replicas} of {dip.capacity_before} replicas lost, "
        f"{lasted}, {dip.failed_requests} of {dip.requests_in_window} requests in its window failed",
    }


def report(root: Path) -> list[Path]:
    """The search's report.html (harness.report); a failure to render is a warning, not the search's end."""
    from harness.report import write_capacity_report

    try:
        return [write_capacity_report(root)]
    except (HarnessError, OSError, ValueError) as exc:
        Console(stderr=True).print(f"warning: report.html not written ({exc})", highlight=False)
        return []


def _probe_from_row(row: dict[str, Any]) -> ProbeRecord:
    """A probes.parquet row back as a ``ProbeRecord``."""
    fields = {k: v for k, v in row.items() if ":" not in k}
    fields = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in fields.items()}
    fields["reasons"] = tuple(r for r in (fields.get("reasons") or "").split("; ") if r)

    def pick(prefix: str) -> dict[str, float | None]:
        return {
            k[len(prefix) :]: (None if v is None or v != v else float(v))
            for k, v in row.items()
            if k.startswith(prefix)
        }

    return ProbeRecord(**fields, margins=pick("margin:"), values=pick("value:"))


def replan(run_dir: str | Path, console: Console | None = None, peak_rps: float | None = None,
           trace: str | None = None, headroom_run: str | None = None) -> CapacityOutcome:  # fmt: skip
    """Plan again from a finished search's folder (no probe runs): new peak, trace, or changed scenario.yaml."""
    from harness.scenario import load_scenario

    console = console or Console()
    root = Path(run_dir)
    doc_path = root / "capacity" / "capacity.json"
    try:
        doc = json.loads(doc_path.read_text(encoding="utf-8"))
        frame = pd.read_parquet(root / "capacity" / "probes.parquet")
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{root}: not a capacity search folder ({exc}); give results/<id> of kibench capacity"
        ) from None
    if not doc.get("boundary"):
        raise InputError(f"{doc_path}: the search found no boundary ({doc.get('error')}); run the search again")
    b = dict(doc["boundary"])
    b["margin_interval"] = {k: tuple(v) for k, v in (b.get("margin_interval") or {}).items()}
    b["notes"] = tuple(b.get("notes") or ())
    boundary = Boundary(**b)
    probes = [_probe_from_row(r) for r in frame.to_dict("records")]
    scenario = load_scenario(root / "scenario.yaml")
    cap = scenario.capacity or CapacitySpec()
    plan = plan_overrides(cap, peak_rps, trace, headroom_run)
    trace_points = plan_trace_points(plan.trace)
    first = sorted((root / "probes").iterdir())[:1] if (root / "probes").is_dir() else []
    events = read_events(first[0] / "events.jsonl", []) if first else []
    inputs = plan_inputs(scenario, plan, boundary, probes, events)
    for path in [*write_outputs(root, probes, boundary, plan, inputs, trace_points, None), *report(root)]:
        console.print(f"wrote {path}", highlight=False)
    return CapacityOutcome(root, 0 if boundary.confirmed else EXIT_SLO_FAILED, boundary)


__all__ = ["CapacityOutcome", "headroom_inputs", "plan_inputs", "plan_overrides", "plan_trace_points", "replan",
           "report"]  # fmt: skip
