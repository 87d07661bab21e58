"""Default SLOs end to end: real runs (local platform or the reference service as a target), real Locust.

- a locustfile whose every request answers 404 fails on the default error rate (exit 1), naming it;
- ``--no-default-slos`` and ``slo_defaults: false`` restore the old verdict (exit 0), warnings stay;
- an explicit ``errors`` SLO replaces the default;
- a rate far above what this machine can send fails the generator's self-check (exit 4), naming it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from harness.procs import free_port, poll_until

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
ALL_404 = """
name: all-404
platform:
  probes: {readiness: {period: 500ms}}
  pod: {termination_grace_period: 2s}
service: {replicas: 1, device_time_ms: 5, cold_start: 0.2s}
load:
  model: closed
  users: 2
  duration: 4s
  locustfile: tests/load/example_locustfile.py   # /catalog, /missing and / : 404 from the reference service
"""


def kibench(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-c", "from harness.cli import main; main()", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=ROOT)


def only_run(results: Path) -> Path:
    (run_dir,) = [p for p in results.iterdir() if p.is_dir()]
    return run_dir


@pytest.fixture(scope="module")
def all_404(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    tmp = tmp_path_factory.mktemp("all404")
    (tmp / "s.yaml").write_text(ALL_404)
    done = kibench("run", str(tmp / "s.yaml"), "--results", str(tmp / "results"))
    return done, only_run(tmp / "results")


def test_an_all_404_locustfile_run_fails_naming_the_error_rate(all_404):
    done, run_dir = all_404
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL  errors rate < 0.01 [default]  (value 1.0)" in done.stdout
    assert "why: the service missed its SLO: error rate 100.0% (errors rate < 0.01, default)" in done.stdout
    assert "verdict: SLO failed (exit 1)" in done.stdout
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["verdict"] == "fail" and summary["metrics"]["requests"] > 10
    assert any(w.startswith("100.0% of requests failed") and "HTTP 404" in w for w in summary["warnings"])
    assert "`rate < 0.01` (default)" in (run_dir / "report.md").read_text()


def rescore(run_dir: Path, dest: Path, **changes: object) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Copy a run folder, change its resolved scenario, and analyse it again with `kibench report`."""
    shutil.copytree(run_dir, dest)
    scenario = yaml.safe_load((dest / "scenario.yaml").read_text())
    (dest / "scenario.yaml").write_text(yaml.safe_dump({**scenario, **changes}))
    done = kibench("report", str(dest))
    return done, json.loads((dest / "summary.json").read_text())


def test_slo_defaults_false_restores_the_old_pass(all_404, tmp_path):
    done, summary = rescore(all_404[1], tmp_path / "run", slo_defaults=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert summary["slos"] == [] and summary["verdict"] == "pass"
    assert "warning: 100.0% of requests failed" in done.stdout  # the warning still says what happened


def test_an_explicit_errors_slo_replaces_the_default(all_404, tmp_path):
    done, summary = rescore(all_404[1], tmp_path / "run", slos={"errors": ["rate <= 1"]})
    assert done.returncode == 0, done.stdout + done.stderr
    errors = [s for s in summary["slos"] if s["metric"] == "errors"]
    assert [(s["expression"], s["default"], s["pass"]) for s in errors] == [("rate <= 1", False, True)]
    defaults = [s["metric"] for s in summary["slos"] if s["default"]]
    assert defaults == ["loadgen_saturated", "platform_saturated"]  # closed model: no rate check


def test_no_default_slos_flag_on_a_real_run(tmp_path):
    (tmp_path / "s.yaml").write_text(ALL_404.replace("duration: 4s", "duration: 2s"))
    done = kibench("run", str(tmp_path / "s.yaml"), "--no-default-slos", "--results", str(tmp_path / "results"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verdict: pass (exit 0)" in done.stdout and "warning: 100.0% of requests failed" in done.stdout
    run_dir = only_run(tmp_path / "results")
    assert yaml.safe_load((run_dir / "scenario.yaml").read_text())["slo_defaults"] is False


@pytest.fixture
def reference_service() -> Iterator[str]:
    """One replica of the reference service with zero device time (``kibench serve --profile noop``)."""
    port = free_port()
    argv = [sys.executable, "-c", "from harness.cli import main; main()", "serve", "--profile", "noop"]
    proc = subprocess.Popen([*argv, "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            try:
                return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        if not poll_until(ready, 10.0, 0.1):
            pytest.fail("the reference service did not become ready")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.exclusive  # saturates the load generator on purpose
def test_a_rate_far_beyond_the_generator_fails_its_self_check(reference_service, tmp_path):
    # 20,000 arrivals a second: several times what one load process sends on any machine we run on.
    scenario = f"name: saturate\ntarget: {{url: '{reference_service}'}}\nload: {{rate_rps: 20000, duration: 3s}}\n"
    (tmp_path / "s.yaml").write_text(scenario)
    done = kibench("run", str(tmp_path / "s.yaml"), "--results", str(tmp_path / "results"))
    assert done.returncode == 4, done.stdout + done.stderr
    assert "verdict: self-check failed (exit 4)" in done.stdout
    assert "why: the measurement is not trustworthy: " in done.stdout
    assert "FAIL  rate_deviation_pct value <= 2 [default, self-check]" in done.stdout
    summary = json.loads((only_run(tmp_path / "results") / "summary.json").read_text())
    [rate] = [s for s in summary["slos"] if s["metric"] == "rate_deviation_pct"]
    assert not rate["pass"] and rate["default"] and rate["self_check"]
    assert summary["metrics"]["achieved_rate_ratio"] < 0.9
