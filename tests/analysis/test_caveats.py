"""Plain-word warnings (harness/analysis/caveats.py) on synthetic run folders, through the real analysis."""

from __future__ import annotations

from harness.analysis import analyze
from tests.analysis.runfolder import write_run

SCENARIO = "name: w\nload: {rate_rps: 10, duration: 10s}\nslo_defaults: false\n"
FAULTS = """faults:
  - {at: 2s, experiment: chaos/pod-kill.yaml}
  - {at: 8s, experiment: chaos/node-drain.yaml, name: drain}
"""


def warnings_of(tmp_path, **kwargs) -> list[str]:
    summary, _ = analyze(write_run(tmp_path / "run", kwargs.pop("scenario", SCENARIO), **kwargs))
    return summary["warnings"]


def test_a_clean_run_has_no_warning(tmp_path):
    assert warnings_of(tmp_path) == []


def test_more_than_ten_percent_failed_names_the_share_and_the_statuses(tmp_path):
    [warning] = warnings_of(tmp_path, n_errors=11)
    assert warning.startswith("11.0% of requests failed (11 of 100; most frequent: HTTP 404 × 11)")


def test_ten_percent_failed_is_not_worth_a_warning(tmp_path):
    assert warnings_of(tmp_path, n_errors=10) == []


def test_a_replica_that_never_became_ready(tmp_path):
    events = [
        {"t_s": 0.1, "kind": "pod_created", "pod": "svc-1"},
        {"t_s": 0.2, "kind": "pod_created", "pod": "svc-2"},
        {"t_s": 0.3, "kind": "pod_unschedulable", "pod": "svc-2", "reason": "no node with a free GPU slot"},
        {"t_s": 0.9, "kind": "pod_ready", "pod": "svc-1"},
        {"t_s": 3.0, "kind": "pod_unready", "pod": "svc-1"},  # Ready once: not this warning's business
        {"t_s": 11.5, "kind": "pod_deleted", "pod": "svc-2", "reason": "shutdown"},
    ]
    [warning] = warnings_of(tmp_path, events=events)
    assert warning.startswith(
        "replica svc-2 never became Ready (created at 0.2 s, still not Ready when the load ended; "
        "unschedulable: no node with a free GPU slot)"
    )


def test_a_fault_that_never_injected_and_one_that_never_started(tmp_path):
    events = [
        {"t_s": 3.0, "kind": "chaos_start", "fault": "pod-kill", "index": 0, "experiment": "chaos/pod-kill.yaml"},
        {"t_s": 3.5, "kind": "chaos_end", "fault": "pod-kill", "status": "failed", "steady_state_before": False},
    ]
    warnings = warnings_of(tmp_path, scenario=SCENARIO + FAULTS, events=events)
    assert len(warnings) == 2
    assert warnings[0].startswith(
        "fault pod-kill never injected its fault (its steady-state hypothesis did not hold before"
    )
    assert warnings[1].startswith("fault drain (due 8 s after the load started) never started")


def test_a_run_shorter_than_asked(tmp_path):
    scenario = SCENARIO.replace("duration: 10s", "duration: 60s")
    meta = {"complete": False, "error": "interrupted by SIGINT; partial results were kept"}
    [warning] = warnings_of(tmp_path, scenario=scenario, meta=meta)
    assert warning.startswith("the load ran 10.0 s of the 60 s asked (interrupted by SIGINT")


def test_a_run_a_fraction_of_a_second_short_is_not_short(tmp_path):
    # 10 rps for 10.4 s asked; the load ran 10 s (the last arrival is at 9.95 s): within the slack.
    assert warnings_of(tmp_path, scenario=SCENARIO.replace("duration: 10s", "duration: 10.4s")) == []
