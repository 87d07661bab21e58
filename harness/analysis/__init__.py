"""Analysis of a run folder (files only, never in-memory state): metrics, SLO verdict, summary.json."""

from harness.analysis.summary import analyze

__all__ = ["analyze"]
