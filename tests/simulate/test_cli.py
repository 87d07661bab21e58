"""``kibench simulate`` end to end: a run folder that ``kibench report`` and ``kibench compare`` take as they
take a measured one, and the scenarios the simulator refuses (exit 2, with the reason)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]

SPIKE = """
name: sim-spike
platform:
  balancing: request
  hpa:
    enabled: true
    max_replicas: 5
    metrics: [{type: Pods, name: queue_depth, target_average_value: 3}]
    sync_period: 1s
    metric_resolution: 1s
    downscale_stabilization: 5s
service: {replicas: 1, device_time_ms: 50, cold_start: 1s}
load:
  shape: {kind: spike, base_rps: 8, peak_rps: 40, before: 5s, hold: 10s, after: 10s}
  max_concurrency: 1000
slos:
  latency_ms: ["p(50) < 250"]
"""


def _cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["kibench", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return int(exit_.value.code or 0)


def _run_dir(capsys: pytest.CaptureFixture[str]) -> Path:
    out = capsys.readouterr().out
    return Path(next(line.split(": ", 1)[1] for line in out.splitlines() if line.startswith("run folder: ")))


def test_simulate_then_report_then_compare(tmp_path, write_yaml, monkeypatch, capsys) -> None:
    path = write_yaml(SPIKE)
    results = str(tmp_path / "r")
    assert _cli(monkeypatch, "simulate", str(path), "--results", results) in (0, 1)
    base = _run_dir(capsys)
    summary = json.loads((base / "summary.json").read_text())
    assert summary["platform"] == "simulated"
    assert summary["metrics"]["peak_replicas"] > 1 and summary["metrics"]["scale_up_reaction_s"] is not None
    assert (base / "report.html").is_file() and (base / "per_second.parquet").is_file()
    assert _cli(monkeypatch, "report", str(base)) in (0, 1)
    capsys.readouterr()
    args = ["simulate", str(path), "--results", results, "--mode", "fluid"]
    assert _cli(monkeypatch, *args) in (0, 1)
    candidate = _run_dir(capsys)
    assert json.loads((candidate / "run.json").read_text())["simulation"]["mode"] == "fluid"
    code = _cli(monkeypatch, "compare", str(base), str(candidate), "--out", str(tmp_path / "cmp"))
    assert code in (0, 1)
    assert "latency" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("patch", "field", "why"),
    [
        ("target: {url: 'http://127.0.0.1:9'}", "target.url", "does not deploy"),
        ("load: {model: closed, users: 2, duration: 5s, locustfile: x.py}", "load.locustfile", "locustfile"),
        ("load: {rate_rps: 5, duration: 5s, workload: {kind: completions}}", "load.workload", "without an LLM profile"),
    ],
)
def test_what_cannot_be_modelled_is_refused(tmp_path, write_yaml, monkeypatch, capsys, patch, field, why) -> None:
    text = "name: refused\n" + ("load: {rate_rps: 5, duration: 5s}\n" if not patch.startswith("load") else "") + patch
    (tmp_path / "x.py").write_text("# a locustfile\n")
    monkeypatch.chdir(tmp_path)
    assert _cli(monkeypatch, "simulate", str(write_yaml(text)), "--results", str(tmp_path / "r")) == 2
    err = capsys.readouterr().err
    assert field in err and "cannot be simulated" in err and why in err
    assert not (tmp_path / "r").exists(), "nothing written"


def test_a_fault_without_a_model_is_refused(tmp_path, write_yaml, monkeypatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    fault = f"{{at: 5s, experiment: {ROOT}/chaos/hung-replica.yaml}}"
    text = f"name: hung\nload: {{rate_rps: 5, duration: 20s}}\nfaults: [{fault}]\n"
    assert _cli(monkeypatch, "simulate", str(write_yaml(text)), "--results", str(tmp_path / "r")) == 2
    err = capsys.readouterr().err
    assert "faults[0].experiment" in err and "has no model" in err


BIG = """
name: big
platform:
  balancing: request
  nodes: {count: 30, gpu_slots: 8}
  hpa: {enabled: true, min_replicas: 100, max_replicas: 240,
        metrics: [{type: Pods, name: device_busy, target_average_value: 0.5}]}
service: {replicas: 200, device_time_ms: 50, cold_start: 1s}
load: {rate_rps: 1000, duration: 15s, max_concurrency: 100000}
slo_defaults: false
"""


def test_a_simulation_takes_more_replicas_than_a_measured_run(tmp_path, write_yaml, monkeypatch, capsys) -> None:
    path = write_yaml(BIG)
    assert _cli(monkeypatch, "simulate", str(path), "--results", str(tmp_path / "r"), "--mode", "fluid") == 0
    run = _run_dir(capsys)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["metrics"]["peak_replicas"] >= 200
    assert _cli(monkeypatch, "run", str(path), "--results", str(tmp_path / "m"), "--dry-run") == 2
    err = capsys.readouterr().err
    assert f"{path}: service.replicas: 200 is over 64, the most a measured run takes" in err
    assert "kibench simulate" in err and "10,000" in err
    assert not (tmp_path / "m").exists(), "nothing written"
    over = ["--set", "service.replicas=10001"]
    assert _cli(monkeypatch, "simulate", str(path), "--results", str(tmp_path / "r"), *over) == 2
    assert "service.replicas" in capsys.readouterr().err


def test_the_measured_bound_counts_the_hpa_and_node_autoscaler_only_when_enabled() -> None:
    from harness.errors import ScenarioError
    from harness.run import refuse_over_measured_scale
    from harness.scenario import validate

    def check(platform: dict) -> None:
        data = {"name": "b", "platform": platform, "load": {"rate_rps": 1, "duration": "1s"}}
        refuse_over_measured_scale(validate(data, "f.yaml"), "f.yaml")

    check({"hpa": {"enabled": False, "max_replicas": 500}, "nodes": {"autoscaler": {"max_nodes": 500}}})
    with pytest.raises(ScenarioError, match="f.yaml: platform.hpa.max_replicas: 500 is over 64"):
        check({"hpa": {"enabled": True, "max_replicas": 500}})
    with pytest.raises(ScenarioError, match="platform.nodes.autoscaler.max_nodes: 100 is over 64"):
        check({"nodes": {"autoscaler": {"enabled": True, "max_nodes": 100}}})
    with pytest.raises(ScenarioError, match="platform.nodes.count: 65"):
        check({"nodes": {"count": 65}})
