"""Reports: a run's report.md, report.html, junit.xml and plots; a comparison's compare.md/.html and junit.xml;
compact Markdown for ``$GITHUB_STEP_SUMMARY``.  Built from summary.json / compare.json and the run folder's files."""

from harness.report.build import build_report, read_summary
from harness.report.capacity_report import write_capacity_report
from harness.report.compare_report import write_compare_reports
from harness.report.stepsummary import append_summary, compare_summary_md, run_summary_md

__all__ = ["append_summary", "build_report", "compare_summary_md", "read_summary", "run_summary_md",
           "write_capacity_report", "write_compare_reports"]
