"""Shared pytest fixtures, the loopback-only rule for load, and where `cluster` tests find their cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cpu_share import holding, once_per_session

ROOT = Path(__file__).resolve().parents[1]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):  # type: ignore[no-untyped-def]
    """Each test (its fixtures' set-up and tear-down included) holds the run's CPU lock (tests/cpu_share.py)."""
    with holding(exclusive=item.get_closest_marker("exclusive") is not None):
        yield


def pytest_configure(config: pytest.Config) -> None:
    # The tests' load and fault traffic stays on loopback: kibench refuses any other address (route.py).
    os.environ.setdefault("KIBENCH_LOOPBACK_ONLY", "1")


@pytest.fixture
def kibench() -> list[str]:
    """argv prefix that runs the kibench CLI with this interpreter."""
    return [sys.executable, "-c", "from harness.cli import main; main()"]


@pytest.fixture(scope="session")
def pod_kill_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """scenarios/pod-kill-under-load.yaml once on the embedded platform, shortened (15 s of load, the kill at 4 s,
    1 s cold start): the process and its run folder, shared by the chaos test of its recovery metrics, the
    headroom test and the sweep's comparison of summary keys with a run on a cluster (one run instead of three:
    the suite's time; once for both xdist workers)."""

    def make(results: Path) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-c", "from harness.cli import main; main()", "run",
                "scenarios/pod-kill-under-load.yaml", "--set", "load.duration=15s", "--set", "faults[0].at=4s",
                "--set", "service.cold_start=1s", "--results", str(results)]  # fmt: skip
        return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT)

    done, results = once_per_session(tmp_path_factory, "pod-kill", make)
    folders = [p for p in results.iterdir() if p.is_dir()]
    assert len(folders) == 1, done.stdout + done.stderr
    return done, folders[0]


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write a scenario text to a file and return its path."""

    def _write(text: str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
