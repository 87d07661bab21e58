"""``report.html`` of a capacity search: its boundary, plan, figures and probes on one self-contained page.

In: a search folder (``kibench capacity``'s ``results/<id>/``) with ``capacity/capacity.json``,
``capacity/probes.parquet`` and the PNGs beside them.  Out: ``<id>/report.html`` (section ``#capacity``),
rendered with jinja2 from ``templates/capacity.html.j2``; the figures are inlined as base64.  Each probe
keeps its own run folder, which ``kibench report`` turns into an ordinary run report.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pandas as pd

from harness.report.html import ENV, TEMPLATES, fmt, pct
from harness.runio import read_json, write_atomic

FIGURES = (
    ("latency_vs_rate.png", "Latency percentiles against offered rate, with the SLO"),
    ("margins.png", "SLO margins with the isotonic + PCHIP fit"),
    ("goodput_vs_rate.png", "Throughput and goodput against offered rate"),
    ("replicas_over_trace.png", "Replicas over the trace"),
)


def _money(value: Any) -> str:
    return "n/a" if value is None else f"${value:,.2f}"


def write_capacity_report(root: str | Path) -> Path:
    root = Path(root)
    folder = root / "capacity"
    doc = read_json(folder / "capacity.json")
    probes_path = folder / "probes.parquet"
    probes = pd.read_parquet(probes_path).to_dict("records") if probes_path.exists() else []
    plan = doc.get("plan") or {}
    rows = ([("peak", plan["peak"])] if "peak" in plan else []) + (
        [("trace peak", plan["trace"]["peak"])] if "trace" in plan else []
    )
    figures = [
        (title, base64.b64encode((folder / name).read_bytes()).decode("ascii"))
        for name, title in FIGURES
        if (folder / name).exists()
    ]
    html = ENV.get_template("capacity.html.j2").render(
        name=root.name, doc=doc, b=doc.get("boundary"), plan=plan or None, plan_rows=rows, probes=probes,
        figures=figures, fmt=fmt, pct=pct, money=_money, css=(TEMPLATES / "base.css").read_text(encoding="utf-8"),
    )  # fmt: skip
    return write_atomic(root / "report.html", html)
