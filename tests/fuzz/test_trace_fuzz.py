"""Trace CSVs for ``load.shape: {kind: trace, file: ...}``, generated good and bad: a bad file is rejected at
``load.shape`` naming its line, never with a traceback; a good one replays as the load engine's segments."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.load.shapes import Schedule, segments_for
from harness.scenario import Scenario, read_trace_csv, validate
from tests.fuzz import strategies as s
from tests.fuzz.support import examples, rejected_properly


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-trace")


@examples(250)
@given(raw=s.trace_csvs(), time_scale=st.sampled_from([0.001, 0.1, 1, 60, 1e6]),
       rate_scale=st.sampled_from([0.01, 1, 1e3]), interpolate=st.sampled_from(["linear", "step"]))  # fmt: skip
def test_trace_files_replay_or_are_rejected_naming_the_line(scratch, raw, time_scale, rate_scale, interpolate):
    path = scratch / "trace.csv"
    path.write_bytes(raw)
    shape = {"kind": "trace", "file": str(path), "time_scale": time_scale, "rate_scale": rate_scale,
             "interpolate": interpolate}  # fmt: skip
    outcome = rejected_properly(lambda: validate({"name": "trace", "load": {"shape": shape}}, "fuzz.yaml"))
    if isinstance(outcome, ScenarioError):
        assert outcome.field.startswith("load"), outcome
        return
    assert isinstance(outcome, Scenario)
    points = read_trace_csv(path)
    segments = segments_for(outcome.load)
    assert segments[0].start_s == 0 and all(a.end_s == b.start_s for a, b in zip(segments, segments[1:], strict=False))
    assert segments[-1].end_s == pytest.approx(outcome.load.duration_s)
    highest = max(rate for _, rate in points) * rate_scale
    for seg in segments:
        assert 0 <= seg.start_rps <= highest and 0 <= seg.end_rps <= highest
        if interpolate == "step":
            assert seg.start_rps == seg.end_rps
    schedule = Schedule(segments)
    assert all(math.isfinite(schedule.rate_at(t)) for t in (0, outcome.load.duration_s / 3, outcome.load.duration_s))


@examples(150)
@given(raw=s.trace_csvs())
def test_the_trace_reader_raises_only_value_errors(scratch, raw):
    path = scratch / "read.csv"
    path.write_bytes(raw)
    try:
        points = read_trace_csv(path)
    except ValueError as exc:  # its contract: the scenario turns it into a ScenarioError at load.shape
        assert str(path) in str(exc) or "UTF-8" in str(exc) or "utf-8" in str(exc), exc
        return
    assert all(math.isfinite(t) and math.isfinite(r) for t, r in points)
