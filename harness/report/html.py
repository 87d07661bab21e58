"""``report.html``: one self-contained page per run (inline CSS and PNG figures, no script, no CDN).

In: the summary dict, the figures (PNG bytes, from figures.py) and, when the run folder has ``capacity/``,
the capacity section's data (capacity_report.py).  Out: HTML text, rendered with jinja2
from ``templates/report.html.j2`` with autoescaping.  The verdict is the element ``#verdict``.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).parent / "templates"
ENV = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html", "j2"]))

PERFORMANCE = ("requests", "throughput_rps", "goodput_rps", "error_rate", "availability", "output_tokens_per_s")
COST = ("replica_seconds", "peak_ready_replicas", "gpu_hours", "cost_usd", "cost_per_1k_requests",
        "cost_per_1m_tokens", "idle_fraction", "cpu_request_utilisation", "memory_request_utilisation",
        "cpu_recommended_cores", "memory_recommended_mib", "rightsizing_savings_usd_per_replica_hour")  # fmt: skip
SCALING = ("peak_replicas", "scale_up_reaction_s", "scale_up_ready_s", "slo_recovery_s", "scale_down_s",
           "time_to_capacity_s", "time_to_slo_s", "fault_failed_requests", "detection_s")  # fmt: skip
CHECKS = {
    "loadgen_saturated": "1: the generator ran out of CPU; its latencies include its own queueing",
    "loadgen_cpu_saturation": "share of CPU samples above 90 % (worst worker)",
    "achieved_rate_ratio": "sent / requested arrivals",
    "rate_deviation_pct": "|achieved - requested| / requested, %",
    "dropped_arrivals": "arrivals the concurrency cap could not start",
    "send_lag_p99_ms": "p99 of actual - intended send time",
}
TREND_COLS = ("avg", "min", "p50", "p90", "p95", "p99", "max")


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if value != value:
            return "–"
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def pct(value: Any) -> str:
    return "–" if value is None else f"{100 * float(value):.2f}%"


def money(value: Any) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def render_html(
    summary: dict[str, Any], figures: dict[str, bytes | None], has_prices: bool, capacity: dict[str, Any] | None = None
) -> str:
    """The page; ``capacity`` (capacity_report.capacity_context) adds the section ``#capacity``."""
    m = summary.get("metrics", {})
    slos = summary.get("slos", [])
    trends = [(k, m[k]) for k in ("latency_ms", "latency_raw_ms", "send_lag_ms", "ttft_ms", "itl_ms") if k in m]
    return ENV.get_template("report.html.j2").render(
        s=summary,
        m=m,
        css=(TEMPLATES / "base.css").read_text(encoding="utf-8"),
        slos=slos,
        failed=sum(1 for r in slos if not r.get("pass")),
        any_default=any(r.get("default") for r in slos),
        perf=[(k, m.get(k)) for k in PERFORMANCE],
        trends=trends,
        trend_cols=TREND_COLS,
        cost=[(k, m.get(k)) for k in COST],
        has_prices=has_prices,
        scaling=[(k, m.get(k)) for k in SCALING],
        phases=summary.get("phases", []),
        faults=summary.get("faults", []),
        checks=[(k, m.get(k), note) for k, note in CHECKS.items()],
        env=sorted((summary.get("environment") or {}).items()),
        figs={k: base64.b64encode(v).decode("ascii") for k, v in figures.items() if v},
        cap=capacity,
        money=money,
        fmt=fmt,
        pct=pct,
    )
