"""Scenario loading: valid files, overrides, and error messages that name file, field and fix."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness.errors import ScenarioError
from harness.scenario import apply_override, json_schema, load_scenario, parse_duration
from tests.conftest import ROOT

GOOD = """
name: t1
service: {replicas: 2, device_time_ms: 20}
load: {rate_rps: 10, duration: 5s}
slos:
  latency_ms: ["p(95) < 800"]
"""


@pytest.mark.parametrize(
    ("text", "value"),
    [("30s", 30.0), ("5m", 300.0), ("500ms", 0.5), ("1h", 3600.0), (12, 12.0), ("2.5s", 2.5), ("7", 7.0)],
)
def test_durations(text, value):
    assert parse_duration(text) == value


@pytest.mark.parametrize("text", ["5 minutes", "-3s", "s", True, "1d"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_good_scenario_converts_units(write_yaml):
    scenario = load_scenario(write_yaml(GOOD))
    assert scenario.load.duration_s == 5.0
    assert scenario.platform.kind == "local"
    assert [t.expression for t in scenario.thresholds()] == ["p(95) < 800"]


def test_stages_duration_is_the_sum(write_yaml):
    path = write_yaml(
        "name: s\nload:\n  stages:\n    - {duration: 10s, target_rps: 5}\n    - {duration: 1m, target_rps: 50}\n"
    )
    assert load_scenario(path).load.duration_s == 70.0


@pytest.mark.parametrize(
    ("text", "field", "fix"),
    [
        ("name: x\nload: {rate_rps: -5, duration: 10s}\n", "load.rate_rps", "must be > 0 (got -5)"),
        ("name: x\nload: {rate_rps: 5, duration: 10 parsecs}\n", "load.duration", "'30s'"),
        ("name: x\nload: {rate_rps: 5, duraton: 10s}\n", "load.duraton", "did you mean 'duration'"),
        ("name: x\nload: {rate_rps: 5, duration: 5s}\nservice: {replicas: 0}\n", "service.replicas", ">= 1"),
        (
            "name: x\nload:\n  stages:\n    - {duration: 5s, target_rps: 1}\n    - {duration: 5s, target_rps: -2}\n",
            "load.stages[1].target_rps",
            "must be >= 0",
        ),
        (
            "name: x\nload: {rate_rps: 5, duration: 5s}\nslos: {latency_ms: ['p95 < 3']}\n",
            "slos.latency_ms[0]",
            "p(95)",
        ),
        (
            "name: x\nload: {rate_rps: 5, duration: 5s}\nslos: {latncy: ['avg < 3']}\n",
            "slos.latncy[0]",
            "unknown metric",
        ),
        (
            "name: x\nload: {rate_rps: 5, duration: 5s}\nslos: {errors: ['avg < 3']}\n",
            "slos.errors[0]",
            "use one of rate",
        ),
        ("name: x\nload: {rate_rps: 5}\n", "load", "needs both rate_rps"),
        ("load: {rate_rps: 5, duration: 5s}\n", "name", "required field is missing"),
        ("name: x\nload: {rate_rps: 5, duration: 5s}\nplatform: moon\n", "platform.kind", "'local'"),
    ],
)
def test_bad_scenarios_name_field_and_fix(write_yaml, text, field, fix):
    path = write_yaml(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {field}:"), message
    assert fix in message, message
    assert info.value.exit_code == 2


def test_yaml_syntax_error_names_line(write_yaml):
    path = write_yaml("name: x\nload: {rate_rps: 5\n")
    with pytest.raises(ScenarioError, match=r"line \d+, column \d+: not valid YAML"):
        load_scenario(path)


def test_missing_file():
    with pytest.raises(ScenarioError, match="cannot read the file"):
        load_scenario("/nonexistent/scenario.yaml")


def test_overrides_apply_and_revalidate(write_yaml):
    path = write_yaml(GOOD)
    scenario = load_scenario(path, ["load.rate_rps=42", "service.replicas=3", "slos.errors=['rate < 0.05']"])
    assert scenario.load.rate_rps == 42
    assert scenario.service.replicas == 3
    assert scenario.slos["errors"] == ["rate < 0.05"]
    with pytest.raises(ScenarioError, match="load.rate_rps"):
        load_scenario(path, ["load.rate_rps=0"])


def test_override_list_index():
    data = {"load": {"stages": [{"duration": "5s", "target_rps": 1}, {"duration": "5s", "target_rps": 2}]}}
    apply_override(data, "load.stages[1].target_rps=9", "f")
    apply_override(data, "load.stages.0.duration=1m", "f")
    assert data["load"]["stages"][1]["target_rps"] == 9
    assert data["load"]["stages"][0]["duration"] == "1m"


def test_override_without_equals():
    with pytest.raises(ScenarioError, match="path.to.field=VALUE"):
        apply_override({}, "load.rate_rps", "f")


def test_json_schema_names_sections():
    schema = json_schema()
    assert {"name", "load", "service", "platform", "slos"} <= set(schema["properties"])


def test_every_shipped_scenario_validates():
    files = sorted((ROOT / "scenarios").glob("*.yaml"))
    assert files
    for path in files:
        load_scenario(path)


def test_cli_validate_exits_2_naming_the_field(kibench, write_yaml):
    path = write_yaml("name: x\nload: {rate_rps: -5, duration: 10s}\n")
    proc = subprocess.run([*kibench, "validate", str(path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "load.rate_rps" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_schema_prints_json(kibench):
    proc = subprocess.run([*kibench, "schema"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["title"] == "Scenario"


@pytest.mark.parametrize(
    "argv", [["run", "scenarios/smoke.yaml", "--bogus"], ["run"], ["frob"], ["serve", "--port", "abc"]]
)
def test_cli_usage_errors_exit_2_without_traceback(kibench, argv):
    proc = subprocess.run([*kibench, *argv], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and "Error:" in proc.stderr
