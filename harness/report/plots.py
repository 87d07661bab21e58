"""``plots/latency.png``: latency percentiles per second with the SLO line, throughput, replicas.

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
        ax_rep.set_ylim(bottom=0)
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
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
