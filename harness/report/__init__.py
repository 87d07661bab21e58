"""Reports of a run: report.md and plots/*.png, built from summary.json and the run folder's files."""

from harness.report.build import build_report

__all__ = ["build_report"]
