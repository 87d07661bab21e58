"""Baseline vs candidate: steady-state windows, a circular block bootstrap, equivalence margins, verdicts.

``compare_runs(baseline, candidate, settings, out_dir)`` loads both sides (a run folder, a folder of
repeats, or comma-separated folders), refuses unlike runs, computes ``compare.json`` (compare.py) and
writes it; the CLI then has ``harness.report`` render compare.md, compare.html and junit.xml from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.compare.compare import Settings, compare_samples, default_margins, parse_margin, verdict
from harness.compare.sides import RunSample, load_run, resolve_side
from harness.runio import write_json


def compare_runs(baseline: str | Path, candidate: str | Path, settings: Settings) -> dict[str, Any]:
    """Load both sides and compare them (raises RunFolderError / UnlikeRunsError / InputError: exit 2)."""
    base = [load_run(p) for p in resolve_side(baseline)]
    cand = [load_run(p) for p in resolve_side(candidate)]
    return compare_samples(base, cand, settings)


def write_compare_json(out_dir: Path, result: dict[str, Any]) -> Path:
    return write_json(Path(out_dir) / "compare.json", result)


__all__ = [
    "RunSample",
    "Settings",
    "compare_runs",
    "compare_samples",
    "default_margins",
    "parse_margin",
    "verdict",
    "write_compare_json",
]
