"""Scenario files and ``--set`` overrides, generated and broken: never a traceback; a rejection exits 2 and
names the field; what is accepted is a load the engine can schedule (docs/reliability.md)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.errors import ScenarioError
from harness.load.shapes import Schedule, requested_arrivals, segments_for
from harness.scenario import Scenario, dump, load_scenario, validate
from tests.fuzz import strategies as s
from tests.fuzz.support import examples, field_path, rejected_properly

SEEDS = st.sampled_from(s.seeds())
ANY_BASE = st.one_of(SEEDS, s.scenarios())


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-scenario")


def _write(folder: Path, content: bytes | str) -> Path:
    path = folder / "scenario.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def check_schedulable(scenario: Scenario) -> None:
    """What the run does first with an accepted scenario: plan its load and name its phases."""
    duration_s = scenario.load.duration_s
    assert 0 < duration_s < math.inf, f"an accepted load lasts {duration_s} s"
    segments = segments_for(scenario.load)
    assert segments and all(math.isfinite(x) for seg in segments for x in (seg.start_rps, seg.end_rps, seg.end_s))
    assert not math.isnan(requested_arrivals(segments))  # inf only for rates near 1e308 (docs/reliability.md)
    schedule = Schedule(segments)
    for t_s in (0.0, duration_s / 2, duration_s):
        assert math.isfinite(schedule.rate_at(t_s)) and schedule.rate_at(t_s) >= 0
    assert scenario.phase_names()
    scenario.thresholds()


@examples(120)
@given(doc=s.scenarios())
def test_generated_scenarios_are_accepted_schedulable_and_round_trip(doc):
    scenario = validate(doc, "generated")
    check_schedulable(scenario)
    assert validate(yaml.safe_load(dump(scenario)), "resolved") == scenario  # the run folder's scenario.yaml


@examples(300)
@given(case=s.mutated(ANY_BASE))
def test_a_broken_field_is_rejected_naming_it(scratch, case):
    doc, how, where = case
    path = _write(scratch, yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    outcome = rejected_properly(lambda: load_scenario(path))
    if isinstance(outcome, Scenario):
        check_schedulable(outcome)
        return
    assert isinstance(outcome, ScenarioError) and outcome.path == str(path)
    if outcome.field == "(top level)":
        return
    named = field_path(doc, outcome.field)
    assert named is not None, f"{how} at {s.dotted(where)} reported at a field that is not there: {outcome}"
    if how == "unknown-key":  # reported at the key, a section holding it, or (free-form mappings) its value
        common = min(len(named), len(where))
        assert list(where[:common]) == named[:common], f"unknown {s.dotted(where)} reported as {outcome}"


@examples(150)
@given(raw=s.broken_text(ANY_BASE))
def test_broken_yaml_text_is_rejected_or_accepted_never_a_traceback(scratch, raw):
    outcome = rejected_properly(lambda: load_scenario(_write(scratch, raw)))
    if isinstance(outcome, Scenario):
        check_schedulable(outcome)


@examples(200)
@given(base=SEEDS, sets=s.overrides())
def test_set_overrides_are_applied_or_rejected_naming_the_field(scratch, base, sets):
    path = _write(scratch, yaml.safe_dump(base, sort_keys=False))
    outcome = rejected_properly(lambda: load_scenario(path, sets))
    if isinstance(outcome, Scenario):
        check_schedulable(outcome)
    elif outcome.field.startswith("--set"):
        assert any(outcome.field.removeprefix("--set ").strip() in arg for arg in sets), outcome
