"""Warnings in plain words for what no SLO covers but a reviewer of the run must know.

In: ``RunData`` (request rows, events, load stats, run.json), the scenario, the ``Metrics`` and the
per-fault metrics.  Out: sentences appended to ``RunData.warnings`` (summary.json ``warnings``, the
report and the CLI).  Warnings never change the verdict; each one names what happened, how much, and
what to look at or change:

- more than 10 % of the requests failed (with the most frequent statuses or errors);
- arrivals were dropped (the ``load.max_concurrency`` users were all busy: never sent, never measured);
- a replica (pod) was created but never became Ready before the load ended;
- a scheduled fault never injected its fault (its experiment did not run its method), or never started;
- the load ran shorter than the scenario asked (interrupted, or the load process ended early).  A
  run counts as short when it ran less than the asked duration minus max(1 s, 2 %): an open-model run
  ends at its last arrival, up to half an arrival gap before the nominal end;
- the platform's word on how the load reached the service (a port-forward: latency includes the tunnel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from harness.analysis.metrics import Metrics
from harness.analysis.runfolder import RunData
from harness.scenario import Scenario

FAILED_SHARE_WARN = 0.10
SHORT_RUN_SLACK_S = 1.0
SHORT_RUN_SLACK_SHARE = 0.02


def add_caveats(data: RunData, scenario: Scenario, metrics: Metrics, faults: list[dict[str, Any]]) -> None:
    """Append every warning that applies to ``data.warnings``."""
    load_end = max((float(e["t_s"]) for e in data.events_of("load_end")), default=None)
    data.warnings.extend(
        [
            *failed_requests(data.requests),
            *dropped_arrivals(metrics, scenario),
            *never_ready(data.events, load_end),
            *faults_not_injected(faults, scenario),
            *short_run(data, scenario, load_end),
            *route_warnings(data.events),
        ]
    )


def failed_requests(requests: pd.DataFrame) -> list[str]:
    n = len(requests)
    failed = requests[~requests["ok"].astype(bool)] if n else requests
    if not n or len(failed) <= FAILED_SHARE_WARN * n:
        return []
    status = pd.to_numeric(failed["status"], errors="coerce").fillna(0).astype(int)
    errors = failed["error"].tolist()
    kinds = [f"HTTP {s}" if s > 0 else str(e or "error").split(":", 1)[0] for s, e in zip(status, errors, strict=True)]
    top = pd.Series(kinds).value_counts().head(3)
    most = ", ".join(f"{kind} × {count}" for kind, count in top.items())
    return [
        f"{len(failed) / n:.1%} of requests failed ({len(failed)} of {n}; most frequent: {most}); "
        "latency and throughput include these failures: check the endpoint, the request body and the service's logs"
    ]


def dropped_arrivals(metrics: Metrics, scenario: Scenario) -> list[str]:
    dropped = int(metrics.gauges.get("dropped_arrivals") or 0)
    if dropped <= 0:
        return []
    requested = metrics.gauges.get("requested_rate_rps")
    window = metrics.window_s[1] - metrics.window_s[0]
    share = f" ({dropped / (requested * window):.1%} of those requested)" if requested else ""
    return [
        f"{dropped} arrivals were dropped{share}: all {scenario.load.max_concurrency} users "
        "(load.max_concurrency) were busy when they were due, so they were never sent and their latency is not "
        "in the results; the service (or a saturated load generator) could not keep up: lower the rate or raise "
        "load.max_concurrency"
    ]


def never_ready(events: list[dict[str, Any]], load_end: float | None) -> list[str]:
    horizon = float("inf") if load_end is None else load_end
    created: dict[str, float] = {}
    ready: set[str] = set()
    gone: dict[str, tuple[float, str]] = {}
    why: dict[str, str] = {}
    for e in sorted(events, key=lambda e: float(e.get("t_s", 0.0))):
        kind, pod, t = e.get("kind"), str(e.get("pod")), float(e.get("t_s", 0.0))
        if kind == "pod_created" and t <= horizon:
            created.setdefault(pod, t)
        elif kind == "pod_ready":
            ready.add(pod)
        elif kind == "pod_deleted" and pod not in gone:
            gone[pod] = (t, str(e.get("reason") or ""))
        elif kind == "pod_unschedulable":
            why[pod] = f"unschedulable: {e.get('reason') or 'no node fits'}"
        elif kind == "container_exited" and pod not in ready:
            why[pod] = f"its container exited (code {e.get('exit_code')})"
    out = []
    for pod, t_created in created.items():
        if pod in ready:
            continue
        deleted = gone.get(pod)
        if deleted is not None and deleted[0] <= horizon:
            fate = f"deleted at {deleted[0]:.1f} s" + (f" ({deleted[1]})" if deleted[1] else "")
        else:
            fate = "still not Ready when the load ended"
        reason = f"; {why[pod]}" if pod in why else ""
        out.append(
            f"replica {pod} never became Ready (created at {t_created:.1f} s, {fate}{reason}); "
            "the run had less capacity than it asked for: see logs/ and the pod events in events.jsonl"
        )
    return out


def faults_not_injected(faults: list[dict[str, Any]], scenario: Scenario) -> list[str]:
    out = []
    for f in faults:
        if f.get("injected"):
            continue
        cause = "its steady-state hypothesis did not hold before" if f.get("steady_state_before") is False else ""
        cause = cause or f"the experiment ended {f.get('status')}"
        out.append(
            f"fault {f.get('name')} never injected its fault ({cause}, so its method did not run); "
            f"the run measured no {f.get('name')}: see chaos/{f.get('name')}.journal.json"
        )
    started = {f.get("index") for f in faults}
    for i, spec in enumerate(scenario.faults):
        if i not in started:
            name = spec.name or Path(spec.experiment).stem
            out.append(
                f"fault {name} (due {spec.at:g} s after the load started) never started: the load ended or "
                "was interrupted first"
            )
    return out


def short_run(data: RunData, scenario: Scenario, load_end: float | None) -> list[str]:
    asked = scenario.load.duration_s
    starts = [float(e["t_s"]) for e in data.events_of("load_start")]
    error = data.meta.get("error")
    because = f" ({error})" if error else ("" if data.meta.get("complete", True) else " (the run did not complete)")
    if not starts:
        return [f"the load never started{because}: no request was sent of the {asked:g} s asked"]
    if load_end is None:
        req = data.requests
        load_end = float(req["t_intended_s"].max()) if len(req) else min(starts)
    ran = load_end - min(starts)
    if ran >= asked - max(SHORT_RUN_SLACK_S, SHORT_RUN_SLACK_SHARE * asked):
        return []
    return [f"the load ran {ran:.1f} s of the {asked:g} s asked{because}; whole-run figures cover only that part"]


def route_warnings(events: list[dict[str, Any]]) -> list[str]:
    """What the platform said about how the load reached the service (a port-forward's tunnel, on a cluster)."""
    return [str(e["route_warning"]) for e in events if e.get("kind") == "deployed" and e.get("route_warning")]
