"""``plots/latency.png``: latency percentiles per second with the SLO line, throughput, replicas, HPA metrics.

In: the run folder (``per_second.parquet``, ``timeline.parquet``) and the summary (SLO lines).
Out: the PNG path.  Uses matplotlib's Agg backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from harness.runio import write_with  # noqa: E402


def _read(path: Path) -> pd.DataFrame:
    return pd.read_parquet(path) if path.exists() else pd.DataFrame()


def plot_latency(root: Path, summary: dict[str, Any]) -> Path:
    per_s = _read(root / "per_second.parquet")
    timeline = _read(root / "timeline.parquet")
    fig, (ax_lat, ax_rate, ax_rep) = plt.subplots(3, 1, figsize=(10, 8), sharex=True, height_ratios=(3, 1.2, 1.2))
    if not per_s.empty:
        for col, style in (("p50_ms", "-"), ("p95_ms", "-"), ("p99_ms", ":")):
            ax_lat.plot(per_s["t_s"], per_s[col], style, label=col.replace("_ms", ""))
        ax_rate.bar(per_s["t_s"], per_s["requests"], width=1.0, align="edge", color="tab:blue", label="requests/s")
        ax_rate.bar(per_s["t_s"], per_s["errors"], width=1.0, align="edge", color="tab:red", label="errors/s")
    for slo in summary.get("slos", []):
        if slo["metric"] == "latency_ms":
            ax_lat.axhline(slo["limit"], color="red", linestyle="--", linewidth=1, label=f"SLO {slo['expression']}")
    if not timeline.empty:
        ax_rep.step(timeline["t_s"], timeline["desired_replicas"], where="post", label="desired")
        ax_rep.step(timeline["t_s"], timeline["ready_replicas"], where="post", label="ready")
        if "pods_pending" in timeline:
            ax_rep.step(timeline["t_s"], timeline["pods_pending"], ":", where="post", label="pending pods")
        ax_rep.set_ylim(bottom=0)
        _plot_hpa_metrics(ax_rep, timeline)
    for fault in summary.get("faults", []):  # each fault's window (harness/analysis/faults.py), on every panel
        for ax in (ax_lat, ax_rate, ax_rep):
            ax.axvspan(*fault["window_s"], color="tab:orange", alpha=0.15, label=f"fault {fault['name']}")
    ax_lat.set_ylabel("latency (ms, corrected)")
    ax_lat.set_title(f"{summary['scenario']} — {summary['run_id']} — {summary['verdict'].upper()}")
    ax_rate.set_ylabel("per second")
    ax_rep.set_ylabel("replicas")
    ax_rep.set_xlabel("seconds since run start")
    for ax in (ax_lat, ax_rate, ax_rep):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", fontsize=8)
    out = root / "plots" / "latency.png"
    fig.tight_layout()
    write_with(out, lambda tmp: fig.savefig(tmp, dpi=100, format="png"))
    plt.close(fig)
    return out


def _plot_hpa_metrics(ax: Any, timeline: pd.DataFrame) -> None:
    """Each HPA metric (the timeline's ``hpa_*`` columns) on a second axis: value / target when known."""
    names = [c for c in timeline.columns if c.startswith("hpa_") and not c.endswith("_target")]
    names = [c for c in names if timeline[c].notna().any()]
    if not names:
        return
    twin = ax.twinx()
    ratios = False
    for col, color in zip(names, ("tab:purple", "tab:brown", "tab:olive", "tab:cyan"), strict=False):
        values, label = pd.to_numeric(timeline[col], errors="coerce"), f"HPA {col.removeprefix('hpa_')}"
        if f"{col}_target" in timeline:
            values = values / pd.to_numeric(timeline[f"{col}_target"], errors="coerce")
            label, ratios = label + " / target", True
        twin.plot(timeline["t_s"], values, "--", color=color, linewidth=1, label=label)
    if ratios:
        twin.axhline(1.0, color="grey", linestyle=":", linewidth=1)
    twin.set_ylabel("HPA metric / target" if ratios else "HPA metric")
    twin.set_ylim(bottom=0)
    twin.legend(loc="upper right", fontsize=8)
