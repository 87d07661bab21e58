"""Inputs the fuzzers found that raised a traceback or were wrongly accepted, kept as plain examples
(each ran into the bug before its fix; docs/reliability.md lists them)."""

from __future__ import annotations

import pytest

from harness.autoscale.casefile import load_case_file
from harness.errors import InputError, ScenarioError
from harness.scenario import load_scenario, validate
from tests.fuzz.support import cli

LOAD = "load: {rate_rps: 1, duration: 1s}\n"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"name: caf\xe9\n" + LOAD.encode(), r"not UTF-8 text \(byte 9\)"),  # was UnicodeDecodeError
        (("name: x\nload: " + "[" * 3000 + "]" * 3000 + "\n").encode(), "nested too deeply"),  # RecursionError
        (("name: x\n" + LOAD + "cost: {gpu_hour_usd: " + "9" * 5000 + "}\n").encode(), "4300 digits"),  # ValueError
        (b"name: 2021-02-30\n" + LOAD.encode(), "day is out of range for month"),  # ValueError from a date
    ],
)
def test_files_yaml_cannot_read_are_rejected_naming_the_file(tmp_path, content, problem):
    path = tmp_path / "s.yaml"
    path.write_bytes(content)
    with pytest.raises(ScenarioError, match=problem) as caught:
        load_scenario(path)
    assert caught.value.exit_code == 2 and str(caught.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("load", "field"),
    [
        ({"rate_rps": 1, "duration": float("nan")}, "load.duration"),  # was a pydantic traceback after validation
        ({"rate_rps": 1, "duration": "9" * 400 + "s"}, "load.duration"),  # was accepted: an infinite load
        ({"rate_rps": "1e400", "duration": "1s"}, "load.rate_rps"),  # was accepted: an infinite rate
        ({"stages": [{"duration": 0, "target_rps": 5}]}, "load"),  # was accepted: a load of 0 s
        ({"shape": {"kind": "trace", "points": [[0, 1], [1e308, 1]], "time_scale": 10}}, "load"),  # an infinite trace
        ({"shape": {"kind": "trace", "file": "~no-such-user-kibench/t.csv"}}, "load.shape"),  # was RuntimeError
        ({"model": "closed", "users": 1, "duration": "1s", "locustfile": "~no-such-user-kibench/l.py"}, "load"),
    ],
)
def test_values_that_are_not_a_finite_load_are_rejected(load, field):
    with pytest.raises(ScenarioError) as caught:
        validate({"name": "x", "load": load}, "found.yaml")
    assert caught.value.field.startswith(field), caught.value


def test_a_trace_file_with_an_infinite_value_names_its_line(tmp_path):
    trace = tmp_path / "t.csv"
    trace.write_text("time_s,rate_rps\n0,1\n10,inf\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"t\.csv:3: time and rate must be finite numbers"):
        validate({"name": "x", "load": {"shape": {"kind": "trace", "file": str(trace)}}}, "found.yaml")


def test_an_override_naming_no_field_is_rejected(tmp_path):  # was IndexError
    path = tmp_path / "s.yaml"
    path.write_text("name: x\n" + LOAD, encoding="utf-8")
    for bad in ("..=1", ".=1", "[]=1"):
        with pytest.raises(ScenarioError, match="no field named"):
            load_scenario(path, [bad])
    with pytest.raises(ScenarioError, match="nested too deeply"):
        load_scenario(path, ["load.seed=" + "[" * 3000])


def test_a_case_file_that_is_not_utf8_is_rejected(tmp_path):  # was UnicodeDecodeError
    path = tmp_path / "cases.yaml"
    path.write_bytes(b"\x80- name: x\n")
    with pytest.raises(InputError, match="not UTF-8 text"):
        load_case_file(path)


def test_a_misspelt_key_of_an_slo_object_is_named_not_hidden_behind_the_string_form():
    slo = {"threshold": "p(95) < 500", "severty": "warning"}  # was "slos.latency_ms[0].str: should be a string"
    with pytest.raises(ScenarioError) as caught:
        validate({"name": "x", "load": {"rate_rps": 1, "duration": "1s"}, "slos": {"latency_ms": [slo]}}, "f.yaml")
    assert caught.value.field == "slos.latency_ms[0].severty" and "unknown field" in caught.value.problem


@pytest.mark.parametrize("name", ["9" * 400, "../profiles/noop", "noop/"])
def test_a_profile_name_is_looked_up_by_name_not_as_a_path(name):  # a 400-character name was OSError
    with pytest.raises(ScenarioError, match="unknown profile") as caught:
        validate({"name": "x", "load": {"rate_rps": 1, "duration": "1s"}, "service": {"profile": name}}, "f.yaml")
    assert caught.value.field == "service.profile"


def test_an_experiment_path_too_long_for_the_file_system_is_rejected(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: x\n" + LOAD + f"faults: [{{at: 0, experiment: {'x' * 300}.yaml}}]\n", encoding="utf-8")
    result = cli("validate", str(path))  # was an OSError traceback (File name too long)
    assert result.code == 2 and "faults[0].experiment" in result.err and "cannot be read" in result.err
