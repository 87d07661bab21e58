"""The report's figures as PNG bytes (matplotlib, Agg backend), for inlining in report.html.

In: the summary dict, the per-second series (per_second.parquet), the timeline (timeline.parquet) and
sorted per-request values for the CDFs.  Out: PNG bytes, or None when the run has nothing to draw:

* ``timeline_png``: latency p50/p95/p99 per second with the latency SLO lines (a phase SLO over its
  phase only), load phases marked, fault windows shaded; replica counts (desired, Ready, Pending) beneath;
* ``traffic_png``: requests, errors and dropped arrivals per second;
* ``cdf_png``: the distribution of latency (and TTFT / inter-token gap when streamed), log scale;
* ``scaling_png``: replicas and, per HPA metric, its value against its target.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 90


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=DPI)
    plt.close(fig)
    return buf.getvalue()


def _shade_faults(axes: list[Any], summary: dict[str, Any]) -> None:
    for i, fault in enumerate(summary.get("faults", [])):
        for j, ax in enumerate(axes):
            label = f"fault {fault['name']}" if j == 0 else None
            ax.axvspan(*fault["window_s"], color="tab:orange", alpha=0.15 + 0.05 * (i % 2), label=label)


def _mark_phases(ax: Any, summary: dict[str, Any]) -> None:
    load = [p for p in summary.get("phases", []) if p.get("kind") == "load"]
    if len(load) < 2:
        return
    top = ax.get_ylim()[1]
    for phase in load:
        start = phase["window_s"][0]
        ax.axvline(start, color="grey", linestyle=":", linewidth=0.8)
        ax.text(start, top, f" {phase['name']}", fontsize=7, color="grey", va="top")


def timeline_png(summary: dict[str, Any], per_s: pd.DataFrame, timeline: pd.DataFrame) -> bytes | None:
    if per_s.empty and timeline.empty:
        return None
    fig, (ax_lat, ax_rep) = plt.subplots(2, 1, figsize=(11, 6.5), sharex=True, height_ratios=(3, 1.3))
    if not per_s.empty:
        for col, style in (("p50_ms", "-"), ("p95_ms", "-"), ("p99_ms", ":")):
            ax_lat.plot(per_s["t_s"], per_s[col], style, label=col.replace("_ms", ""), linewidth=1.2)
    windows = {p["name"]: p["window_s"] for p in summary.get("phases", [])}
    for slo in summary.get("slos", []):
        base = str(slo["metric"]).split("{")[0]
        agg = str(slo.get("aggregation", ""))
        if base != "latency_ms" or not (agg.startswith("p(") or agg in ("avg", "med")):
            continue  # max/min bounds would squash the percentile lines
        phase = slo.get("phase")
        label = f"SLO {slo['metric']} {slo['expression']}"
        if phase and phase in windows:
            ax_lat.hlines(slo["limit"], *windows[phase], colors="red", linestyles="--", linewidth=1, label=label)
        elif not phase:
            ax_lat.axhline(slo["limit"], color="red", linestyle="--", linewidth=1, label=label)
    if not timeline.empty:
        ax_rep.step(timeline["t_s"], timeline["desired_replicas"], where="post", label="desired")
        ax_rep.step(timeline["t_s"], timeline["ready_replicas"], where="post", label="Ready")
        if "pods_pending" in timeline and timeline["pods_pending"].fillna(0).any():
            ax_rep.step(timeline["t_s"], timeline["pods_pending"], ":", where="post", label="Pending")
        ax_rep.set_ylim(bottom=0)
    _shade_faults([ax_lat, ax_rep], summary)
    ax_lat.set_ylabel("latency ms (from intended send)")
    ax_lat.set_ylim(bottom=0)
    _mark_phases(ax_lat, summary)
    ax_rep.set_ylabel("replicas")
    ax_rep.set_xlabel("seconds since run start")
    for ax in (ax_lat, ax_rep):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=7)
    return _png(fig)


def traffic_png(summary: dict[str, Any], per_s: pd.DataFrame) -> bytes | None:
    if per_s.empty:
        return None
    fig, ax = plt.subplots(figsize=(11, 3))
    t = per_s["t_s"]
    ax.step(t, per_s["requests"], where="post", label="requests/s", color="tab:blue")
    ax.step(t, per_s["errors"], where="post", label="errors/s", color="tab:red")
    if "dropped" in per_s:
        ax.step(t, per_s["dropped"], where="post", label="dropped arrivals/s", color="tab:purple")
    _shade_faults([ax], summary)
    ax.set_ylabel("per second")
    ax.set_xlabel("seconds since run start")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=7)
    return _png(fig)


def cdf_points(values: np.ndarray, points: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """(x, F(x)) at ``points`` quantile levels, denser in the tail (enough to draw, small to keep)."""
    values = values[~np.isnan(values)]
    if values.size == 0:
        return np.array([]), np.array([])
    tail = 1 - np.geomspace(0.1, 1e-4, points // 2)
    levels = np.unique(np.concatenate([np.linspace(0, 0.9, points // 2), tail, [1.0]]))
    return np.quantile(values, levels), levels


def cdf_png(series: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]) -> bytes | None:
    """One panel per metric; ``series[metric][label] = (x, F)`` (several labels overlay, as in compare)."""
    series = {k: v for k, v in series.items() if any(len(x) for x, _ in v.values())}
    if not series:
        return None
    fig, axes = plt.subplots(1, len(series), figsize=(5.2 * len(series), 3.6), squeeze=False)
    for ax, (metric, curves) in zip(axes[0], series.items(), strict=True):
        for label, (x, f) in curves.items():
            if len(x):
                ax.plot(np.clip(x, 1e-3, None), f, label=label, linewidth=1.3)
        for q in (0.5, 0.95, 0.99):
            ax.axhline(q, color="grey", linestyle=":", linewidth=0.7)
        ax.set_xscale("log")
        ax.set_xlabel(metric)
        ax.set_ylabel("share of requests <= x")
        ax.set_ylim(0, 1.01)
        ax.grid(alpha=0.3, which="both")
        if len(curves) > 1:
            ax.legend(loc="lower right", fontsize=7)
    return _png(fig)


def scaling_png(timeline: pd.DataFrame) -> bytes | None:
    """Replicas, then one panel per HPA metric with its value and target (None without HPA columns)."""
    if timeline.empty:
        return None
    names = [c for c in timeline.columns if c.startswith("hpa_") and not c.endswith("_target")]
    names = [c for c in names if pd.to_numeric(timeline[c], errors="coerce").notna().any()]
    if not names:
        return None
    fig, axes = plt.subplots(1 + len(names), 1, figsize=(11, 2.2 * (1 + len(names))), sharex=True, squeeze=False)
    ax0 = axes[0][0]
    ax0.step(timeline["t_s"], timeline["desired_replicas"], where="post", label="desired")
    ax0.step(timeline["t_s"], timeline["ready_replicas"], where="post", label="Ready")
    ax0.set_ylabel("replicas")
    for row, col in zip(axes[1:], names, strict=True):
        ax = row[0]
        ax.plot(timeline["t_s"], pd.to_numeric(timeline[col], errors="coerce"), label=f"{col[4:]} (value)")
        if f"{col}_target" in timeline:
            target = pd.to_numeric(timeline[f"{col}_target"], errors="coerce")
            ax.plot(timeline["t_s"], target, "--", color="red", linewidth=1, label=f"{col[4:]} target")
        ax.set_ylabel(col[4:])
    for row in axes:
        row[0].grid(alpha=0.3)
        row[0].legend(loc="upper left", fontsize=7)
    axes[-1][0].set_xlabel("seconds since run start")
    return _png(fig)
