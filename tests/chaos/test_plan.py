"""Experiments are loaded and validated before anything starts; chaos/ holds only valid experiments.

Uses the real Chaos Toolkit: ``chaos validate`` (the CLI) on every file in chaos/, and chaoslib's
loader and validator through ``plan_faults``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from harness.chaos import plan_faults, plan_lines
from harness.errors import EXIT_BAD_INPUT, ScenarioError
from harness.scenario import FaultSpec, load_scenario
from tests.chaos.conftest import CHAOS_BIN, ROOT, fast_scenario

EXPERIMENTS = sorted((ROOT / "chaos").glob("*.yaml"))
REQUIRED = {
    "pod-kill",
    "pod-kill-half",
    "node-failure",
    "node-drain",
    "hung-replica",
    "latency-spike",
    "error-burst",
    "rolling-update",
}


def test_every_required_experiment_exists() -> None:
    assert {p.stem for p in EXPERIMENTS} >= REQUIRED


@pytest.mark.parametrize("path", EXPERIMENTS, ids=[p.stem for p in EXPERIMENTS])
def test_chaos_validate_accepts_the_experiment(path: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CHAOS_BIN), "--no-log-file", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "look valid" in output, output
    experiment = yaml.safe_load(path.read_text())
    assert experiment["steady-state-hypothesis"]["probes"], "every experiment needs a steady-state hypothesis"


def test_chaos_validate_rejects_an_argument_the_provider_does_not_take(tmp_path: Path) -> None:
    """The check above can fail: a misspelt argument of a provider function is caught."""
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "chaos" / "pod-kill.yaml").read_text().replace("rand: true", "random: true"))
    result = subprocess.run(
        [str(CHAOS_BIN), "--no-log-file", "validate", str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert "argument 'random' is not part of the function signature" in result.stdout + result.stderr


def test_plan_loads_every_fault_with_names_and_descriptions() -> None:
    faults = [
        FaultSpec(at=5, experiment="chaos/pod-kill.yaml", vars={"qty": 2}),
        FaultSpec(at=20, experiment="chaos/pod-kill.yaml"),
    ]
    plan = plan_faults(faults, source="test", base_dir=ROOT)
    assert [f.name for f in plan.faults] == ["pod-kill", "pod-kill-2"]
    assert [f.offset_s for f in plan.faults] == [5.0, 20.0]
    assert "terminate_pods(" in plan.faults[0].actions[0] and "qty=2" in plan.faults[0].actions[0]
    assert "qty=1" in plan.faults[1].actions[0]
    text = "\n".join(plan_lines(plan, 60.0))
    assert "fault pod-kill: at 5s" in text and "fault pod-kill-2: at 20s" in text


@pytest.mark.parametrize(
    ("fault", "field", "problem"),
    [
        ({"experiment": "chaos/no-such.yaml"}, "faults[0].experiment", "no such file"),
        ({"experiment": "chaos/pod-kill.yaml", "vars": {"qtty": 2}}, "faults[0].vars.qtty", "not a configuration key"),
        (
            {"experiment": "chaos/pod-kill.yaml", "vars": {"kibench_api_url": "x"}},
            "faults[0].vars.kibench_api_url",
            "set by kibench",
        ),
    ],
)
def test_bad_faults_are_scenario_errors_naming_the_field(fault: dict, field: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as info:
        plan_faults([FaultSpec(at=1, **fault)], source="s.yaml", base_dir=ROOT)
    assert info.value.field == field and problem in info.value.problem
    assert info.value.exit_code == EXIT_BAD_INPUT


def test_an_invalid_experiment_is_rejected_with_chaoslibs_reason(tmp_path: Path) -> None:
    broken = yaml.safe_load((ROOT / "chaos" / "pod-kill.yaml").read_text())
    del broken["method"][0]["provider"]["func"]
    (tmp_path / "broken.yaml").write_text(yaml.safe_dump(broken))
    with pytest.raises(ScenarioError, match="broken.yaml: not a valid experiment: .*function name"):
        plan_faults([FaultSpec(at=1, experiment="broken.yaml")], source="s.yaml", base_dir=tmp_path)


def test_faults_must_start_before_the_load_ends(write_yaml) -> None:
    path = write_yaml(
        "name: late\nload: {rate_rps: 5, duration: 10s}\nfaults:\n  - {at: 10s, experiment: chaos/pod-kill.yaml}\n"
    )
    with pytest.raises(ScenarioError, match=r"faults\[0\]\.at: 10s is not before the load ends"):
        load_scenario(path)
    assert fast_scenario(faults=[{"at": "5s", "experiment": "chaos/pod-kill.yaml"}]).faults[0].at == 5.0


def test_kibench_run_dry_run_lists_faults_and_starts_nothing(kibench: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [
            *kibench,
            "run",
            str(ROOT / "scenarios" / "pod-kill-under-load.yaml"),
            "--dry-run",
            "--results",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fault pod-kill: at 15s" in result.stdout
    assert "terminate_pods(" in result.stdout and "nothing was started" in result.stdout
    assert not (tmp_path / "results").exists()


def test_kibench_run_exits_2_on_a_bad_experiment_before_deploying(kibench: list[str], write_yaml, tmp_path) -> None:
    path = write_yaml("name: bad\nload: {rate_rps: 5, duration: 10s}\nfaults:\n  - {at: 1s, experiment: nope.yaml}\n")
    result = subprocess.run(
        [*kibench, "run", str(path), "--results", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "faults[0].experiment: nope.yaml: no such file" in result.stderr
    assert not (tmp_path / "results").exists()
