"""Build every report artefact of a run folder.

In: a run folder that already has ``summary.json`` (analysis ran), ``per_second.parquet``,
``timeline.parquet`` and the request rows (for the distributions).  Out: ``report.md`` with
``plots/latency.png``, the self-contained ``report.html`` (with the capacity section when the folder has
``capacity/capacity.json``) and ``junit.xml``; each written to a temporary
name and renamed.  Returns the paths written.  A torn or missing summary.json is a ``RunFolderError``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from harness.errors import RunFolderError
from harness.model import RunFiles
from harness.report.capacity_report import capacity_context
from harness.report.figures import cdf_png, cdf_points, scaling_png, timeline_png, traffic_png
from harness.report.html import render_html
from harness.report.junit import run_junit
from harness.report.markdown import render_markdown
from harness.report.plots import plot_latency
from harness.runio import read_json, read_requests, write_atomic

CDF_COLUMNS = {"latency_ms": "latency_ms", "ttft_ms": "ttft_ms", "itl_ms": "itl_mean_ms"}


def read_summary(root: Path) -> dict[str, Any]:
    summary = read_json(root / "summary.json", "; run `kibench report` on the folder first")
    if not isinstance(summary, dict) or "slos" not in summary:
        raise RunFolderError(f"{root / 'summary.json'}: not a kibench summary; rebuild it with `kibench report`")
    return summary


def build_report(root: str | Path) -> list[Path]:
    root = Path(root)
    summary = read_summary(root)
    written = [plot_latency(root, summary)]
    md = write_atomic(root / "report.md", render_markdown(summary, [p.relative_to(root) for p in written]))
    capacity = capacity_context(root)
    html = write_atomic(
        root / "report.html", render_html(summary, _figures(root, summary), _has_prices(root), capacity)
    )
    junit = write_atomic(root / "junit.xml", run_junit(summary))
    return [md, html, junit, *written]


def _figures(root: Path, summary: dict[str, Any]) -> dict[str, bytes | None]:
    per_s, timeline = _frame(root / "per_second.parquet"), _frame(root / "timeline.parquet")
    warnings: list[str] = []
    table = read_requests(RunFiles(root), list(CDF_COLUMNS.values()), warnings)
    curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for name, column in CDF_COLUMNS.items():
        if table is not None and column in table.column_names:
            values = table.column(column).to_numpy(zero_copy_only=False).astype(float)
            x, f = cdf_points(values)
            if len(x):
                curves[name] = {name: (x, f)}
    return {
        "timeline": timeline_png(summary, per_s, timeline),
        "traffic": traffic_png(summary, per_s),
        "cdf": cdf_png(curves),
        "scaling": scaling_png(timeline),
    }


def _frame(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path) if path.exists() else pd.DataFrame()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a torn file
        raise RunFolderError(f"{path}: cannot be read ({type(exc).__name__}); the file is damaged") from None


def _has_prices(root: Path) -> bool:
    try:
        data = yaml.safe_load((root / "scenario.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and bool(data.get("cost"))
