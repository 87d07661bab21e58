"""JUnit (read back with junitparser), the step summary, and report.html / compare.html in headless Chromium."""

from __future__ import annotations

import json
import subprocess
import sys

import junitparser
import pytest

from harness.report.stepsummary import LIMIT_BYTES, append_summary, run_summary_md
from tests.analysis.test_phases_cost_score import make_spike_run
from tests.compare.synth import write_run
from tests.report.browser import find_chromium, open_page

needs_browser = pytest.mark.skipif(
    find_chromium() is None,
    reason="no headless Chromium: `make browser` installs Debian's chromium-headless-shell (needs root apt-get)",
)


@pytest.fixture(scope="module")
def spike_run(tmp_path_factory):
    root = make_spike_run(tmp_path_factory.mktemp("reports") / "run")
    cmd = [sys.executable, "-c", "from harness.cli import main; main()", "report", str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the peak-phase SLO fails on purpose
    return root


def test_junit_has_one_testcase_per_slo_with_the_value_on_failures(spike_run):
    xml = junitparser.JUnitXml.fromfile(str(spike_run / "junit.xml"))
    suites = list(xml) if isinstance(xml, junitparser.JUnitXml) else [xml]
    cases = [case for suite in suites for case in suite]
    summary = json.loads((spike_run / "summary.json").read_text())
    assert len(cases) == len(summary["slos"]) == 5 + sum(1 for slo in summary["slos"] if slo["default"])
    assert {c.classname for c in cases} == {"kibench.spiky"}
    names = [c.name for c in cases]
    assert "latency_ms p(95) < 500" in names and "latency_ms{phase:peak} p(95) < 150" in names
    failed = [c for c in cases if not c.is_passed]
    assert [c.name for c in failed] == ["latency_ms{phase:peak} p(95) < 150"]
    assert "measured 200" in failed[0].result[0].message


def test_compare_junit_and_strictness(tmp_path, kibench):
    write_run(tmp_path / "a", 1)
    write_run(tmp_path / "b", 2, shift=1.03)
    out = tmp_path / "cmp"
    proc = subprocess.run([*kibench, "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(out),
                           "--strict"], capture_output=True, text=True, timeout=120)  # fmt: skip
    result = json.loads((out / "compare.json").read_text())
    assert result["verdict"] == "INCONCLUSIVE" and proc.returncode == 1, proc.stdout + proc.stderr
    cases = [c for suite in junitparser.JUnitXml.fromfile(str(out / "junit.xml")) for c in suite]
    assert len(cases) == len(result["metrics"]) and {c.classname for c in cases} == {"kibench.compare.synth"}
    inconclusive = [m["name"] for m in result["metrics"] if m["verdict"] == "INCONCLUSIVE"]
    failed = [c.name.split(" ")[0] for c in cases if c.result and isinstance(c.result[0], junitparser.Failure)]
    assert failed == inconclusive  # --strict: INCONCLUSIVE is a failure


def test_step_summary_is_compact_and_appends_under_1_mib(tmp_path, spike_run):
    summary = json.loads((spike_run / "summary.json").read_text())
    path = tmp_path / "step.md"
    append_summary(path, run_summary_md(summary))
    text = path.read_text()
    assert "**FAIL**" in text and "latency_ms{phase:peak} p(95) < 150" in text and text.count("\n") < 20
    many = {**summary, "slos": summary["slos"] * 20000}
    append_summary(path, run_summary_md(many))
    assert path.stat().st_size < LIMIT_BYTES and "rows cut" in path.read_text()


@needs_browser
def test_report_html_opens_offline_in_chromium(spike_run, tmp_path):
    page = open_page(spike_run / "report.html")
    (tmp_path / "report.png").write_bytes(page.screenshot)
    assert page.console_errors == []
    assert page.verdict == "FAIL"
    assert page.image_count >= 3 and page.images_ok
    assert all(u.startswith(("file:", "data:")) for u in page.requested), page.requested[:3]
    html = (spike_run / "report.html").read_text()
    for section in ("id=\"slos\"", "id=\"phases\"", "id=\"loadchecks\"", "id=\"environment\"", "Faults"):
        assert section in html
    assert "latency_ms{phase:peak}" in html and "pod-kill" in html


@needs_browser
def test_compare_html_opens_offline_in_chromium(tmp_path, kibench):
    write_run(tmp_path / "a", 1)
    write_run(tmp_path / "b", 2, shift=1.2)
    subprocess.run([*kibench, "compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c")],
                   capture_output=True, text=True, timeout=120)  # fmt: skip
    page = open_page(tmp_path / "c" / "compare.html")
    assert page.console_errors == [] and page.verdict == "REGRESSION"
    assert page.image_count == 2 and page.images_ok
    assert all(u.startswith(("file:", "data:")) for u in page.requested)


@pytest.fixture(scope="module")
def run_with_capacity(tmp_path_factory):
    """The spike run with a capacity/ subfolder (synthetic probes, a plan for 300 rps), reported by `kibench report`."""
    from harness.capacity import write_outputs
    from harness.capacity.planner import PlanInputs
    from harness.scenario import CapacityPlanSpec
    from tests.capacity.test_outputs import BOUNDARY, probes

    root = make_spike_run(tmp_path_factory.mktemp("capacity-report") / "run")
    inputs = PlanInputs(per_replica_rps=100.0, scale_up_lag_s=20.0, gpu_hour_usd=2.0)
    write_outputs(root, probes(), BOUNDARY, CapacityPlanSpec(peak_rps=300), inputs, None, None)
    cmd = [sys.executable, "-c", "from harness.cli import main; main()", "report", str(root)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return root


def test_a_run_with_capacity_has_the_capacity_section(run_with_capacity, spike_run):
    html = (run_with_capacity / "report.html").read_text()
    section = html[html.index('<section id="capacity">') : html.index("</section>")]
    assert "100 rps per replica" in section and "confirmed by repeats" in section
    assert "latency_ms (latency)" in section  # the binding SLO and its reason
    assert "<td>peak</td><td>300</td><td><b>5</b></td>" in section and "4 + 1 + 0" in section and "$10.00" in section
    assert section.count("data:image/png;base64,") == 3  # latency, margins, goodput (no trace: no replicas plot)
    assert html.count('id="verdict"') == 1 and 'id="capacity-verdict"' in section  # the run's verdict stays the one
    assert "probes/05" in section
    assert 'id="capacity"' not in (spike_run / "report.html").read_text()  # no capacity/: no section


def test_kibench_report_on_a_capacity_search_writes_its_page(tmp_path, kibench):
    from harness.capacity import write_outputs
    from tests.capacity.test_outputs import BOUNDARY, probes

    write_outputs(tmp_path, probes(), BOUNDARY, None, None, None, None)
    proc = subprocess.run([*kibench, "report", str(tmp_path)], capture_output=True, text=True, timeout=120)
    html = (tmp_path / "report.html").read_text()
    assert proc.returncode == 0 and 'id="verdict"' in html and "100 rps per replica" in html, proc.stderr


@needs_browser
def test_report_html_with_capacity_opens_in_chromium(run_with_capacity):
    page = open_page(run_with_capacity / "report.html")
    assert page.console_errors == [] and page.verdict == "FAIL"  # the run's verdict, not the capacity section's
    assert page.image_count >= 3 + 3 and page.images_ok
