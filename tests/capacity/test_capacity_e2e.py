"""``kibench capacity`` end to end on the embedded platform, compressed: how a search ends on bad input.

The accuracy claim (found within 5 % of the profile's true capacity, two profiles, two seeds) needs
probes of ~1,500 requests and lives in bench/capacity_accuracy.py; here the probes are a second or two.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from harness.capacity_run import run_capacity
from harness.errors import InputError
from harness.scenario import load_scenario

SCENARIO = """
name: cap-e2e
platform:
  probes: {{readiness: {{period: 200ms}}}}
  pod: {{termination_grace_period: 1s}}
  ready_timeout: {ready_timeout}
service:
  cold_start: {cold_start}
  profile: {{kind: classic, base_ms: 100, max_batch_size: 4, max_queue_delay_ms: 5}}
load: {{rate_rps: 1, duration: 1s}}
slos:
  latency_ms: ["p(95) < {p95_ms}"]
capacity:
  probe_requests: 20
  min_probe: 1s
  warmup: 0.2s
  calibrate: 1s
  calibrate_users: 4
  start_fraction: 0.5
  min_rate_rps: 12
"""


@pytest.mark.slow
@pytest.mark.exclusive  # probes doubling past the replica's capacity
def test_an_slo_no_rate_meets_exits_2_and_keeps_the_probes(tmp_path: Path, write_yaml) -> None:
    path = write_yaml(SCENARIO.format(ready_timeout="30s", cold_start="0.2s", p95_ms=5))  # a 100 ms batch: never
    outcome = run_capacity(load_scenario(path), tmp_path / "results", Console(quiet=True))
    assert outcome.exit_code == 2 and outcome.boundary is None, outcome.error
    assert "no rate meets the SLOs" in outcome.error and "loosen the SLO" in outcome.error
    root = outcome.run_dir
    probes = pd.read_parquet(root / "capacity" / "probes.parquet")
    assert list(probes["kind"]) == ["calibrate", "bracket"]  # 0.5 x ~40 rps failed; half of it is under 12 rps
    assert not probes["passed"].iloc[1] and probes["margin:latency_ms"].iloc[1] > 0
    assert 0 < probes["rate_rps"].iloc[0] <= 40.5  # the burst: 4 users, at most a batch of 4 every 100 ms
    doc = json.loads((root / "capacity" / "capacity.json").read_text())
    assert "no rate meets" in doc["error"] and doc["exit_code"] == 2 and doc["boundary"] is None
    assert (root / "report.html").is_file()
    for folder in (root / "probes").iterdir():  # each probe is an ordinary, analysed run folder
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["metrics"]["requests"] > 0 and (folder / "requests.parquet").is_dir()


@pytest.mark.slow
def test_a_replica_never_ready_exits_3_with_capacity_json(tmp_path: Path, write_yaml) -> None:
    scenario = load_scenario(write_yaml(SCENARIO.format(ready_timeout="1s", cold_start="30s", p95_ms=500)))
    outcome = run_capacity(scenario, tmp_path / "results", Console(quiet=True))
    assert outcome.exit_code == 3 and "not Ready within platform.ready_timeout" in (outcome.error or "")
    doc = json.loads((outcome.run_dir / "capacity" / "capacity.json").read_text())
    assert doc["exit_code"] == 3 and doc["probes"] == 0 and "ready_timeout" in doc["error"]


def test_a_negative_trace_rate_is_refused_before_anything_starts(tmp_path: Path, write_yaml) -> None:
    scenario = load_scenario(write_yaml(SCENARIO.format(ready_timeout="30s", cold_start="0.2s", p95_ms=500)))
    trace = tmp_path / "day.csv"
    trace.write_text("time_s,rate_rps\n0,10\n3600,-4\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"day.csv: row 2 \(time 3600 s\) has a negative rate -4") as err:
        run_capacity(scenario, tmp_path / "results", Console(quiet=True), trace=str(trace))
    assert err.value.exit_code == 2 and not (tmp_path / "results").exists()
