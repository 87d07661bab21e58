"""``report.md``: verdict, SLO table, metrics table and plots of one run.

In: the summary dict (summary.json) and plot paths relative to the run folder.  Out: Markdown text.
Default SLOs are marked ``(default)``, self-checks of the measurement ``(self-check)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _rightsizing(table: dict[str, Any]) -> list[str]:
    header = "| container | resource | requested | used (mean) | used (p90 / max) | recommended | lower – upper "
    header += "| use / request |"
    lines = ["", "## Right-sizing (VPA recommender)", "", header, "|---" * 8 + "|"]
    for name, c in table.items():
        cpu = (c["cpu_request_cores"], c["cpu_used_mean_cores"], c["cpu_used_p90_cores"], c["cpu_recommended_cores"])
        bounds = f"{_fmt(c['cpu_lower_bound_cores'])} – {_fmt(c['cpu_upper_bound_cores'])}"
        lines.append(f"| {name} | CPU (cores) | " + " | ".join(_fmt(v) for v in cpu[:3]) + f" | {_fmt(cpu[3])} | "
                     f"{bounds} | {_fmt(c['cpu_request_utilisation'])} |")  # fmt: skip
        mem = (c["memory_request_mib"], c["memory_used_mean_mib"], c["memory_used_max_mib"])
        bounds = f"{_fmt(c['memory_lower_bound_mib'])} – {_fmt(c['memory_upper_bound_mib'])}"
        use = _fmt(c["memory_request_utilisation"])
        lines.append(f"| {name} | memory (MiB) | " + " | ".join(_fmt(v) for v in mem) + f" | "
                     f"{_fmt(c['memory_recommended_mib'])} | {bounds} | {use} |")  # fmt: skip
    return lines


def render_markdown(summary: dict[str, Any], plots: list[Path]) -> str:
    m = summary["metrics"]
    lines = [
        f"# kibench run `{summary['run_id']}`",
        "",
        f"- scenario: **{summary['scenario']}** on platform **{summary['platform']}**, started {summary['started_at']}"
        + (f"; load balanced {summary['balancing']}" if summary.get("balancing") else ""),
        f"- verdict: **{summary['verdict'].upper()}**" + ("" if summary.get("complete") else " (run incomplete)"),
        *([f"- why: {summary['verdict_reason']}"] if summary.get("verdict_reason") else []),
        f"- resilience score: {_fmt(m.get('resilience_score'))} / 100 · full report: report.html · CI: junit.xml",
        "",
        "## SLOs",
        "",
        "| metric | threshold | value | result |",
        "|---|---|---|---|",
    ]
    for slo in summary["slos"]:
        result = ("pass" if slo["pass"] else "**FAIL**") + (" (self-check)" if slo.get("self_check") else "")
        default = " (default)" if slo.get("default") else ""  # harness/analysis/defaults.py
        lines.append(f"| {slo['metric']} | `{slo['expression']}`{default} | {_fmt(slo['value'])} | {result} |")
    if not summary["slos"]:
        lines.append("| – | no SLOs in the scenario | – | – |")
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    for key, value in m.items():
        if not isinstance(value, dict):
            lines.append(f"| {key} | {_fmt(value)} |")
    lines += ["", "| latency (ms) | " + " | ".join(m["latency_ms"]) + " |", "|---" * (len(m["latency_ms"]) + 1) + "|"]
    for key in ("latency_ms", "latency_raw_ms", "send_lag_ms"):
        lines.append(f"| {key} | " + " | ".join(_fmt(v) for v in m[key].values()) + " |")
    if m.get("rightsizing"):  # requested vs used vs recommended (harness/analysis/resources.py, docs/resources.md)
        lines += _rightsizing(m["rightsizing"])
    if summary.get("phases"):  # per-phase metrics (harness/analysis/phases.py, docs/reports.md)
        header = "| phase | kind | window (s) | requests | req/s | error rate | p50 ms | p95 ms | p99 ms |"
        lines += ["", "## Phases", "", header, "|---" * 9 + "|"]
        for p in summary["phases"]:
            pm, lat = p["metrics"], p["metrics"].get("latency_ms") or {}
            cells = (pm.get("requests"), pm.get("throughput_rps"), pm.get("error_rate"), lat.get("p50"),
                     lat.get("p95"), lat.get("p99"))  # fmt: skip
            window = f"{_fmt(p['window_s'][0])}–{_fmt(p['window_s'][1])}"
            lines.append(f"| {p['name']} | {p['kind']} | {window} | " + " | ".join(_fmt(c) for c in cells) + " |")
    if summary.get("faults"):  # per-fault recovery metrics (harness/analysis/faults.py, docs/chaos.md)
        header = "| fault | status | injected (s) | failed requests | to capacity (s) | to SLO (s) | detection (s) |"
        lines += ["", "## Faults", "", header, "|---|---|---|---|---|---|---|"]
        for f in summary["faults"]:
            status = f["status"] + (" (deviated)" if f["deviated"] else "") + ("" if f["injected"] else " (no fault)")
            keys = ("injection_s", "failed_requests", "time_to_capacity_s", "time_to_slo_s", "detection_s")
            cells = [f[key] for key in keys]
            lines.append(f"| {f['name']} | {status} | " + " | ".join(_fmt(c) for c in cells) + " |")
    if summary.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in summary["warnings"]]
    lines += ["", "## Plots", ""] + [f"![{p.stem}]({p.as_posix()})" for p in plots]
    env = summary.get("environment", {})
    lines += ["", "## Environment", ""] + [f"- {k}: {v}" for k, v in env.items()]
    return "\n".join(lines) + "\n"
