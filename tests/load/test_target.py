"""``target.url``: load a running endpoint end to end (kibench run), with headers and a bearer token."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from harness.errors import InputError, PlatformError
from harness.platform.external import ExternalTarget
from harness.scenario import TargetSpec
from tests.load.conftest import Target, fast_app

SCENARIO = """
name: external
target:
  url: {url}
  headers: {{X-Team: bench}}
  bearer_token_env: KIBENCH_TEST_TOKEN
load:
  shape: {{kind: spike, base_rps: 10, peak_rps: 40, before: 1s, rise: 0s, hold: 1s, after: 1s}}
  arrivals: poisson
  seed: 3
slos:
  latency_ms: ["p(95) < 2000"]
  loadgen_saturated: ["value < 1"]
  rate_deviation_pct: ["value < 60"]
"""


@pytest.mark.slow
def test_kibench_run_against_a_running_endpoint(serve, tmp_path, kibench):
    target = Target()
    url = serve(fast_app(target))
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO.format(url=url))
    env = {**os.environ, "KIBENCH_TEST_TOKEN": "s3cret"}
    proc = subprocess.run(
        [*kibench, "run", str(path), "--results", str(tmp_path / "results")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["platform"] == "external" and summary["verdict"] == "pass"
    metrics = summary["metrics"]
    assert metrics["requests"] == target.count - 1  # the probe is the one request not in the rows
    for name in ("loadgen_cpu_saturation", "loadgen_saturated", "rate_deviation_pct", "send_lag_p99_ms"):
        assert name in metrics
    seen = target.headers[-1]
    assert seen["authorization"] == "Bearer s3cret" and seen["x-team"] == "bench"
    phases = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert [e["phase"] for e in phases if e["kind"] == "load_phase"] == ["before", "peak", "after"]
    assert "s3cret" not in (run_dir / "scenario.yaml").read_text()
    assert all("s3cret" not in p.read_text() for p in (run_dir / "logs").glob("loadconfig-*.json"))


def test_probe_failure_names_the_url_and_the_fix():
    spec = TargetSpec(url="http://127.0.0.1:9", probe=True)  # discard port: nothing listens
    with pytest.raises(PlatformError, match=r"target.url: http://127.0.0.1:9 does not answer"):
        ExternalTarget(spec, time.monotonic()).deploy()


def test_missing_token_variable_is_bad_input(monkeypatch):
    monkeypatch.delenv("KIBENCH_NO_SUCH_TOKEN", raising=False)
    spec = TargetSpec(url="http://127.0.0.1:9", bearer_token_env="KIBENCH_NO_SUCH_TOKEN", probe=False)
    with pytest.raises(InputError, match="KIBENCH_NO_SUCH_TOKEN is not set"):
        ExternalTarget(spec, time.monotonic()).deploy()


def test_external_target_refuses_faults_and_reports_no_replicas(serve):
    url = serve(fast_app(Target()))
    platform = ExternalTarget(TargetSpec(url=url), time.monotonic())
    assert platform.deploy().target_url == url
    assert platform.state().ready_replicas == 0 and platform.events(0) == ([], 0)
    with pytest.raises(PlatformError, match="managed|kubernetes"):
        platform.kill_pod("x")


def test_target_url_is_validated():
    from harness.errors import ScenarioError
    from harness.scenario import validate

    with pytest.raises(ScenarioError, match="target.url"):
        validate({"name": "x", "target": {"url": "127.0.0.1:8000"}, "load": {"rate_rps": 1, "duration": 1}}, "f")
