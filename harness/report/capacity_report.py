"""The capacity section: a search's boundary, binding SLO, plan table and figures, on its own page or in a run's.

In: a folder with ``capacity/capacity.json``, ``capacity/probes.parquet`` and the PNGs beside them (a
``kibench capacity`` search, ``results/<id>/``, or any run folder that holds a ``capacity/`` subfolder).
Out: ``capacity_context`` (what ``templates/_capacity.html.j2`` renders: section ``#capacity``, figures
inlined as base64), used by the ordinary report (build.py) when the folder has ``capacity/``, and
``write_capacity_report``: the search's own ``<id>/report.html`` (``templates/capacity.html.j2``).  Each probe
keeps its own run folder, which ``kibench report`` turns into an ordinary run report.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import RunFolderError
from harness.report.html import ENV, TEMPLATES, fmt, money, pct
from harness.runio import read_json, write_atomic

FIGURES = (
    ("latency_vs_rate.png", "Latency percentiles against offered rate, with the SLO"),
    ("margins.png", "SLO margins with the isotonic + PCHIP fit"),
    ("goodput_vs_rate.png", "Throughput and goodput against offered rate"),
    ("replicas_over_trace.png", "Replicas over the trace"),
)


def capacity_context(root: str | Path, standalone: bool = False) -> dict[str, Any] | None:
    """What the capacity section shows, from ``<root>/capacity/`` (None when it has no capacity.json)."""
    folder = Path(root) / "capacity"
    if not (folder / "capacity.json").is_file():
        return None
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
    verdict_id = "verdict" if standalone else "capacity-verdict"
    return {"doc": doc, "b": doc.get("boundary"), "plan": plan or None, "plan_rows": rows, "probes": probes,
            "figures": figures, "verdict_id": verdict_id}  # fmt: skip


def write_capacity_report(root: str | Path) -> Path:
    root = Path(root)
    cap = capacity_context(root, standalone=True)
    if cap is None:
        raise RunFolderError(f"{root / 'capacity' / 'capacity.json'}: missing; run kibench capacity first")
    html = ENV.get_template("capacity.html.j2").render(
        name=root.name, cap=cap, fmt=fmt, pct=pct, money=money,
        css=(TEMPLATES / "base.css").read_text(encoding="utf-8"),
    )  # fmt: skip
    return write_atomic(root / "report.html", html)
