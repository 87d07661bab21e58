"""One capacity probe judged from its run folder, and the SLOs a capacity search judges by.

In: a probe's run folder (requests.parquet, events.jsonl, load stats), its index, kind and requested rate,
its summary (the analysis stage's metrics), the ``capacity`` settings and the thresholds.  Out: a
``ProbeRecord`` (margins per SLO, the failure rules' verdicts, percentiles, goodput) and the probe's steady
part cut into ``windows`` blocks for the confirm's bootstrap.  No probe is run here: harness/capacity_run.py
runs them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis.slo import value_on_rows
from harness.capacity import ProbeRecord, margin
from harness.capacity.confirm import Block
from harness.capacity.margins import achieved_ratio, oversaturated, window_series
from harness.errors import InputError
from harness.model import REQUEST_COLUMNS, RunFiles
from harness.runio import read_events, read_load_stats, read_requests
from harness.scenario import CapacitySpec, Scenario
from harness.thresholds import METRICS, Threshold, parse

_ROW_KINDS = ("trend", "rate")
#: the request columns a probe's figures need (harness.model.REQUEST_COLUMNS, the numeric ones and ``ok``)
_COLUMNS = [c for c in REQUEST_COLUMNS if c not in ("status", "error", "bytes_out", "replica", "phase", "worker")]


def capacity_thresholds(scenario: Scenario) -> list[Threshold]:
    """The scenario's SLOs, plus ``errors rate < 0.01`` unless an SLO already judges errors; only ordered
    comparisons (``<``, ``<=``, ``>``, ``>=``) have a margin."""
    out = scenario.thresholds()
    for th in out:
        if th.op not in ("<", "<=", ">", ">="):
            raise InputError(f"slos.{th.key}: {th.expression!r} has no margin; use <, <=, > or >= for kibench capacity")
    if scenario.slo_defaults and not {"errors", "error_rate", "availability"} & {t.metric for t in out}:
        out.append(parse("errors", "rate < 0.01"))
    if not out:
        raise InputError("slos: kibench capacity needs at least one SLO (e.g. latency_ms: ['p(95) < 500'])")
    return out


def measure(
    files: RunFiles,
    probe: tuple[int, str, float | None],
    summary: dict[str, Any],
    cap: CapacitySpec,
    thresholds: list[Threshold],
    root: Path,
) -> tuple[ProbeRecord, list[Block]]:
    """One probe (index, kind, requested rate; None for the closed-loop burst) judged from its run folder:
    its steady part (warm-up left out) by the SLOs and the failure rules, and that part cut into blocks."""
    index, kind, rate = probe
    warnings: list[str] = []
    table = read_requests(files, _COLUMNS, warnings)
    req = table.to_pandas() if table is not None else pd.DataFrame(columns=_COLUMNS)
    events = read_events(files.events, warnings)
    start = next((float(e["t_s"]) for e in events if e.get("kind") == "load_start"), 0.0)
    duration = next((float(e["duration_s"]) for e in events if e.get("kind") == "load_start"), 0.0)
    a, b = start + min(cap.warmup, 0.5 * duration), start + duration
    cols = {c: pd.to_numeric(req[c], errors="coerce").to_numpy(dtype=float) for c in _COLUMNS if c in req and c != "ok"}
    cols["ok"] = req["ok"].astype(bool).to_numpy() if len(req) else np.zeros(0, dtype=bool)
    if "itl_mean_ms" in cols:  # the metric itl_ms is each answer's mean gap
        cols["itl_ms"] = cols["itl_mean_ms"]
    steady = (cols["t_intended_s"] >= a) & (cols["t_intended_s"] < b)
    rows = {c: v[steady] for c, v in cols.items()}
    metrics = summary.get("metrics", {})
    values: dict[str, float | None] = {}
    margins: dict[str, float | None] = {}
    reasons: list[str] = []
    held = True
    for th in thresholds:
        if METRICS[th.metric][0] in _ROW_KINDS and (th.metric in rows or th.metric in ("errors",)):
            value = value_on_rows(th, rows)
        else:
            value = metrics.get(th.metric)
            value = float(value) if isinstance(value, int | float) else None
        values[th.key], margins[th.key] = value, margin(th, value)
        if not th.holds(value):
            held = False
            reasons.append(f"{th.key} {th.expression} (got {_fmt(value)})")
    stats = read_load_stats(files)
    dropped = sum(int(s.get("dropped") or 0) for s in stats)
    scheduled = sum(int(s.get("scheduled") or 0) for s in stats)
    done = cols["t_sent_s"] + np.nan_to_num(cols.get("latency_raw_ms", cols["latency_ms"])) / 1000.0
    ratio = None
    over = False
    if rate is not None:
        share = dropped / (dropped + scheduled) if dropped + scheduled else 0.0
        ratio = achieved_ratio(cols["t_intended_s"], done, cols["ok"], a, b, share)
        if ratio is None or ratio < cap.min_achieved:
            reasons.append(f"achieved {_fmt(ratio)} of the requested rate (< {cap.min_achieved:g})")
        over = oversaturated(rows["t_intended_s"], rows["latency_ms"], a, b, cap.windows)
        if over:
            reasons.append("over-saturated: latency and in-flight requests climbed through the probe")
    saturated = bool(metrics.get("loadgen_saturated"))
    if saturated:
        reasons.append("the load generator saturated (its numbers are suspect)")
    _, _, flight = window_series(rows["t_intended_s"], rows["latency_ms"], a, b, cap.windows)
    ok_done = cols["ok"] & (done >= a) & (done < b)
    lat = rows["latency_ms"][rows["ok"]]
    tokens = rows.get("tokens_out", np.zeros(0))[rows["ok"]] if "tokens_out" in rows else np.zeros(0)
    tokens = tokens[np.isfinite(tokens)]
    ttft = rows.get("ttft_ms", np.zeros(0))
    ttft = ttft[np.isfinite(ttft)] if ttft.size else ttft
    latency_th = [t.limit for t in thresholds if t.metric == "latency_ms" and t.op in ("<", "<=")]
    good = ok_done & (cols["latency_ms"] <= min(latency_th)) if latency_th else ok_done
    span = max(b - a, 1e-9)
    record = ProbeRecord(
        index=index,
        kind=kind,
        rate_rps=float(rate if rate is not None else np.count_nonzero(ok_done) / span),
        run_dir=str(files.root.relative_to(root)),
        passed=not reasons,
        reasons=tuple(reasons),
        margins=margins,
        values=values,
        requests=int(np.count_nonzero(steady)),
        duration_s=duration,
        throughput_rps=np.count_nonzero(ok_done) / span,
        goodput_rps=np.count_nonzero(good) / span,
        achieved_ratio=ratio,
        loadgen_saturated=saturated,
        oversaturated=over,
        latency_p50_ms=_pct(lat, 50),
        latency_p95_ms=_pct(lat, 95),
        latency_p99_ms=_pct(lat, 99),
        ttft_p95_ms=_pct(ttft, 95),
        in_flight_mean=float(flight.mean()) if flight.size else None,
        tokens_per_request=float(tokens.mean()) if tokens.size else None,
        host_saturated=bool(metrics.get("platform_saturated")),
        slos_held=held,
    )
    edges = np.linspace(a, b, cap.windows + 1)
    blocks = []
    for i in range(cap.windows):
        inside = (rows["t_intended_s"] >= edges[i]) & (rows["t_intended_s"] < edges[i + 1])
        blocks.append({c: v[inside] for c, v in rows.items()})
    return record, blocks


def _pct(values: np.ndarray, q: float) -> float | None:
    values = values[np.isfinite(values)] if values.size else values
    return float(np.percentile(values, q)) if values.size else None


def _fmt(value: float | None) -> str:
    return "no data" if value is None else f"{value:.4g}"
