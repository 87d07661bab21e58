"""Each shape's rate function, phases and duration, as the scenario file states them."""

from __future__ import annotations

import math
import typing

import pytest

from harness.errors import ScenarioError
from harness.load.shapes import Schedule, phase_windows, requested_arrivals, segments_for, sine_rate
from harness.scenario import AnyShape, validate


def spec(load: dict) -> object:
    return validate({"name": "s", "load": load}, "test.yaml").load


def schedule(load: dict) -> Schedule:
    return Schedule(segments_for(spec(load)))


def test_constant_shorthand_and_shape_agree():
    a = schedule({"rate_rps": 20, "duration": "10s"})
    b = schedule({"shape": {"kind": "constant", "rate_rps": 20, "duration": "10s"}})
    for t in (0.0, 3.3, 9.99):
        assert a.rate_at(t) == b.rate_at(t) == 20
    assert a.rate_at(10.0) == 0 and a.rate_at(-1) == 0
    assert requested_arrivals(a.segments) == 200
    assert a.phase_at(5) == "steady"


def test_stages_ramp_linearly():
    s = schedule(
        {"start_rps": 10, "stages": [{"duration": "10s", "target_rps": 30}, {"duration": "5s", "target_rps": 0}]}
    )
    assert s.rate_at(0) == 10 and s.rate_at(5) == pytest.approx(20) and s.rate_at(12.5) == pytest.approx(15)
    assert (s.phase_at(3), s.phase_at(11)) == ("stage-0", "stage-1")
    assert requested_arrivals(s.segments) == pytest.approx(200 + 75)


def test_spike_rises_holds_and_falls():
    load = {
        "shape": {
            "kind": "spike",
            "base_rps": 10,
            "peak_rps": 100,
            "before": "5s",
            "rise": "2s",
            "hold": "10s",
            "fall": "4s",
            "after": "5s",
        }
    }
    s = schedule(load)
    assert spec(load).duration_s == 26
    assert s.rate_at(1) == 10 and s.rate_at(6) == pytest.approx(55) and s.rate_at(10) == 100
    assert s.rate_at(19) == pytest.approx(55) and s.rate_at(24) == 10
    assert [seg.phase for seg in s.segments] == ["before", "rise", "peak", "fall", "after"]


def test_spike_with_instant_rise_is_a_step():
    s = schedule({"shape": {"kind": "spike", "base_rps": 5, "peak_rps": 50, "before": "3s", "hold": "3s"}})
    assert s.rate_at(2.999) == 5 and s.rate_at(3.0) == 50
    assert "rise" not in {seg.phase for seg in s.segments}  # zero-length pieces are left out


def test_step_staircase():
    s = schedule({"shape": {"kind": "step", "start_rps": 10, "step_rps": 15, "steps": 3, "step_duration": "4s"}})
    assert [s.rate_at(t) for t in (0, 3.9, 4, 8, 11.9, 12)] == [10, 10, 25, 40, 40, 0]
    assert s.phase_at(9) == "step-2"


def test_sine_follows_the_cosine_and_has_one_phase():
    load = {"shape": {"kind": "diurnal", "min_rps": 10, "max_rps": 50, "period": "60s", "duration": "120s"}}
    sp = spec(load).shape
    s = schedule(load)
    assert s.rate_at(0) == pytest.approx(10) and s.rate_at(30) == pytest.approx(50)
    for t in (7.0, 18.3, 44.4, 101.0):
        assert s.rate_at(t) == pytest.approx(sine_rate(sp, t), rel=0.01)
    exact_area = 120 * 30  # two whole cycles at the mean rate
    assert requested_arrivals(s.segments) == pytest.approx(exact_area, rel=0.002)
    assert [w.phase for w in phase_windows(s.segments)] == ["diurnal"]


def test_trace_from_csv_linear_and_step(tmp_path):
    csv = tmp_path / "trace.csv"
    csv.write_text("time_s,rate_rps\n# a comment\n0,10\n10,30\n20,0\n")
    linear = schedule({"shape": {"kind": "trace", "file": str(csv)}})
    assert linear.rate_at(5) == pytest.approx(20) and linear.rate_at(15) == pytest.approx(15)
    held = schedule(
        {"shape": {"kind": "trace", "file": str(csv), "interpolate": "step", "time_scale": 0.5, "rate_scale": 2}}
    )
    assert held.rate_at(4.9) == 20 and held.rate_at(5.1) == 60 and held.duration_s == 10


def test_trace_points_are_kept_in_the_resolved_scenario(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("0,1\n5,2\n")
    resolved = spec({"shape": {"kind": "trace", "file": str(csv)}})
    csv.unlink()  # the run folder's scenario.yaml must not need the file again
    again = spec({"shape": resolved.shape.model_dump(mode="json")})
    assert again.shape.points == [(0.0, 1.0), (5.0, 2.0)]


@pytest.mark.parametrize(
    ("load", "fragment"),
    [
        ({"shape": {"kind": "trace", "file": "/nonexistent/trace.csv"}}, "cannot read trace file"),
        ({"shape": {"kind": "sine", "min_rps": 50, "max_rps": 10, "period": 60, "duration": 60}}, "max_rps"),
        ({"shape": {"kind": "wave"}}, "load.shape"),
        ({"rate_rps": 5, "duration": 5, "stages": [{"duration": 1, "target_rps": 1}]}, "give one of"),
        ({"model": "closed", "duration": "5s"}, "needs users"),
        ({"rate_rps": 5, "duration": 5, "users": 3}, "closed model"),
    ],
)
def test_bad_shapes_name_the_field(load, fragment):
    with pytest.raises(ScenarioError, match="test.yaml: load") as err:
        spec(load)
    assert fragment in str(err.value)


def test_trace_csv_errors_name_the_line(tmp_path):
    csv = tmp_path / "bad.csv"
    csv.write_text("time,rate\n0,1\n5,lots\n")
    with pytest.raises(ScenarioError, match=r"bad.csv:3"):
        spec({"shape": {"kind": "trace", "file": str(csv)}})


def test_closed_model_has_one_zero_rate_phase():
    s = schedule({"model": "closed", "users": 4, "duration": "7s"})
    assert [(seg.phase, seg.end_s, seg.start_rps) for seg in s.segments] == [("closed", 7.0, 0.0)]


def test_long_shape_lookups_use_bisection():
    s = schedule(
        {
            "shape": {
                "kind": "sine",
                "min_rps": 0,
                "max_rps": 2,
                "period": "1s",
                "duration": "1h",
                "points_per_period": 100,
            }
        }
    )
    assert len(s.segments) == 360_000
    assert s.rate_at(3599.25) == pytest.approx(1.0, abs=0.01)
    assert math.isclose(s.duration_s, 3600.0)


#: One shape of each kind; a new shape in AnyShape without an entry here fails the test below.
EVERY_SHAPE = {
    "constant": {"rate_rps": 5, "duration": "7s"},
    "stages": {"start_rps": 1, "stages": [{"duration": "3s", "target_rps": 4}, {"duration": "2s", "target_rps": 0}]},
    "spike": {"base_rps": 1, "peak_rps": 9, "before": "2s", "rise": "1s", "hold": "3s", "fall": "0s", "after": "2s"},
    "step": {"start_rps": 2, "step_rps": 3, "steps": 4, "step_duration": "2.5s"},
    "sine": {"min_rps": 1, "max_rps": 3, "period": "10s", "duration": "25s"},
    "diurnal": {"min_rps": 1, "max_rps": 3, "period": "1m", "duration": "90s"},
    "trace": {"points": [[10, 1], [14, 3], [30, 0]], "time_scale": 0.5},
}


def test_every_shape_has_a_duration_that_its_segments_span():
    kinds = {k for cls in typing.get_args(AnyShape) for k in typing.get_args(cls.model_fields["kind"].annotation)}
    assert kinds == set(EVERY_SHAPE)
    for kind, fields in EVERY_SHAPE.items():
        scenario = validate({"name": "s", "load": {"shape": {"kind": kind, **fields}}}, "test.yaml")
        shape = scenario.load.resolved_shape
        segments = segments_for(scenario.load)
        assert shape.duration_s == scenario.load.duration_s == pytest.approx(segments[-1].end_s), kind
        assert {seg.phase for seg in segments} <= set(scenario.phase_names()), kind
