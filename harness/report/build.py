"""Build every report artefact of a run folder.

In: a run folder that already has ``summary.json`` (analysis ran).  Out: ``report.md`` and
``plots/latency.png``; returns the paths written.
"""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.markdown import render_markdown
from harness.report.plots import plot_latency


def build_report(root: str | Path) -> list[Path]:
    root = Path(root)
    summary = json.loads((root / "summary.json").read_text(encoding="utf-8"))
    written = [plot_latency(root, summary)]
    md = root / "report.md"
    md.write_text(render_markdown(summary, [p.relative_to(root) for p in written]), encoding="utf-8")
    return [md, *written]
