"""harness/run.py without processes: clean-up order and exit codes, with a FakePlatform and a fake load.

The observer and the analysis are the real ones; the platform (``FakePlatform``, implementing
``harness.model.Platform``), the load process (``FakeLoad``: writes request rows as the load process
would, then exits with the code given), the fault schedule (``FakeChaos``) and the report (plots take
seconds) are fakes that note each call in one shared list, so the order of the stops can be read from it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from harness.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_PLATFORM, EXIT_SLO_FAILED, PlatformError
from harness.model import REQUEST_COLUMNS, Deployment, Event, Platform, PlatformState, Replica
from harness.observe import Observer
from harness.run import Stages, run_scenario
from harness.scenario import validate

ROOT = Path(__file__).resolve().parents[1]


class FakePlatform:
    """A platform that starts nothing: one Ready replica; ``fail`` makes deploy or state raise."""

    kind = "local"

    def __init__(self, calls: list[str], fail: str | None = None) -> None:
        self.calls, self.fail = calls, fail

    def deploy(self) -> Deployment:
        self.calls.append("platform.deploy")
        if self.fail == "deploy":
            raise PlatformError("the fake platform refuses to deploy")
        return Deployment("http://127.0.0.1:9", self.kind)

    def state(self) -> PlatformState:
        if self.fail == "state":
            raise PlatformError("the fake platform stopped answering")
        return PlatformState(0.0, 1, (Replica("fake-0", "node-0", 9, "Running", True, 0.0, 0.0),))

    def events(self, since: int) -> tuple[list[Event], int]:
        return [], since

    def kill_pod(self, name: str) -> None:
        self.calls.append(f"platform.kill_pod {name}")

    def scale(self, replicas: int) -> None:
        self.calls.append(f"platform.scale {replicas}")

    def teardown(self) -> None:
        self.calls.append("platform.teardown")


class FakeLoad:
    """The load process's side of the contract: ``load_start``, request rows, ``load_end``, an exit code."""

    def __init__(self, calls: list[str], exit_code: int, latency_ms: float, polls: int, interrupt: bool,
                 config: Any, log_path: str, on_line: Any, spare: Any) -> None:  # fmt: skip
        self.calls, self.code, self.latency_ms = calls, exit_code, latency_ms
        self.polls, self.interrupt, self.polled = polls, interrupt, 0
        self.config, self.on_line = config, on_line
        self.latest: dict[str, Any] = {}

    def start(self) -> None:
        self.calls.append("load.start")
        self.on_line({"event": "load_start", "t_s": 0.0, "duration_s": 1.0})
        rows = [
            {"t_intended_s": i * 0.05, "t_sent_s": i * 0.05, "latency_ms": self.latency_ms,
             "latency_raw_ms": self.latency_ms, "status": 200, "ok": True, "error": None, "bytes_out": 10,
             "tokens_out": 1, "replica": "fake-0", "phase": "steady", "worker": "local"}
            for i in range(20)
        ]  # fmt: skip
        parts = Path(self.config.out_dir) / "requests.parquet"
        parts.mkdir(exist_ok=True)
        pd.DataFrame(rows, columns=list(REQUEST_COLUMNS)).to_parquet(parts / "local-00000.parquet", index=False)
        self.on_line({"event": "load_end", "t_s": 1.0, "requests": len(rows), "dropped": 0})

    def poll(self) -> int | None:
        self.polled += 1
        if self.interrupt and self.polled == 1:
            os.kill(os.getpid(), signal.SIGINT)  # a Ctrl-C while the load runs
        return self.code if self.polled > self.polls else None

    def wait(self, timeout_s: float) -> int | None:
        return self.code

    def stop(self) -> None:
        self.calls.append("load.stop")


class FakeChaos:
    def __init__(self, calls: list[str], plan: Any, context: Any) -> None:
        self.calls = calls

    def start(self, load_start_s: float) -> None:
        self.calls.append("chaos.start")

    def record_traffic(self, *args: Any) -> None:
        pass

    def stop(self) -> None:
        self.calls.append("chaos.stop")


def stages(calls: list[str], fail: str | None = None, load_exit: int = 0, latency_ms: float = 5.0,
           interrupt: bool = False) -> Stages:  # fmt: skip
    class NotedObserver(Observer):
        def stop(self) -> None:
            calls.append("observer.stop")
            super().stop()

    platform: Platform = FakePlatform(calls, fail)
    return Stages(
        platform=lambda *args, **kwargs: platform,
        observer=lambda p, files, t0: NotedObserver(p, files, t0, interval_s=0.01),
        load=lambda *args: FakeLoad(calls, load_exit, latency_ms, 10**6 if fail or interrupt else 1, interrupt, *args),
        spare_load=lambda spec, log_path: None,
        chaos=lambda *args: FakeChaos(calls, *args),
        report=lambda root: calls.append("report"),  # the real one draws plots for seconds
    )


def scenario(faults: bool = False) -> Any:
    doc: dict[str, Any] = {
        "name": "fake",
        "service": {"replicas": 1},
        "load": {"rate_rps": 20, "duration": "1s"},
        "slos": {"latency_ms": ["p(95) < 100"]},
        "slo_defaults": False,
    }
    if faults:
        doc["faults"] = [{"at": "0s", "experiment": str(ROOT / "chaos" / "pod-kill.yaml")}]
    return validate(doc, "fake.yaml")


def run(tmp_path: Path, calls: list[str], faults: bool = False, **kwargs: Any) -> Any:
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the test process
    return run_scenario(scenario(faults), tmp_path, console, stages=stages(calls, **kwargs))


STOPS = ["load.stop", "chaos.stop", "observer.stop", "platform.teardown", "platform.teardown", "report"]


def test_a_run_that_meets_its_slo_exits_0_and_stops_in_order(tmp_path):
    calls: list[str] = []
    outcome = run(tmp_path, calls, faults=True)
    assert outcome.exit_code == EXIT_OK, outcome.error
    assert calls == ["platform.deploy", "load.start", "chaos.start", *STOPS]
    assert outcome.summary is not None and outcome.summary["metrics"]["requests"] == 20


def test_a_missed_slo_exits_1(tmp_path):
    outcome = run(tmp_path, [], latency_ms=500.0)
    assert outcome.exit_code == EXIT_SLO_FAILED and outcome.error is None


def test_a_failing_load_process_exits_3_after_every_stop(tmp_path):
    calls: list[str] = []
    outcome = run(tmp_path, calls, faults=True, load_exit=1)
    assert outcome.exit_code == EXIT_PLATFORM and "load process exited with code 1" in str(outcome.error)
    assert calls[-len(STOPS) :] == STOPS
    assert outcome.summary is not None  # what was recorded is analysed


def test_a_failed_deploy_exits_3_and_tears_down_what_it_started(tmp_path):
    calls: list[str] = []
    outcome = run(tmp_path, calls, faults=True, fail="deploy")
    assert outcome.exit_code == EXIT_PLATFORM and "refuses to deploy" in str(outcome.error)
    assert calls == ["platform.deploy", "platform.teardown", "platform.teardown", "report"]  # nothing else started


def test_a_platform_that_stops_answering_exits_3(tmp_path):
    calls: list[str] = []
    outcome = run(tmp_path, calls, fail="state")
    assert outcome.exit_code == EXIT_PLATFORM and "stopped answering" in str(outcome.error)
    assert calls[-5:] == ["load.stop", "observer.stop", "platform.teardown", "platform.teardown", "report"]


@pytest.mark.parametrize("faults", [False, True])
def test_sigint_exits_130_keeps_the_rows_and_stops_in_order(tmp_path, faults):
    calls: list[str] = []
    outcome = run(tmp_path, calls, faults=faults, interrupt=True)
    assert outcome.exit_code == EXIT_INTERRUPTED and "SIGINT" in str(outcome.error)
    expected = [s for s in STOPS if faults or s != "chaos.stop"]
    assert calls[-len(expected) :] == expected
    assert outcome.summary is not None and outcome.summary["complete"] is False
    assert outcome.summary["metrics"]["requests"] == 20


def test_a_signal_during_analysis_still_exits_130(tmp_path):
    calls: list[str] = []
    stage = stages(calls)
    stage = Stages(stage.platform, stage.observer, stage.load, stage.chaos,
                   report=lambda root: os.kill(os.getpid(), signal.SIGTERM))  # fmt: skip
    console = Console(file=open(os.devnull, "w"))  # noqa: SIM115 - closed with the test process
    outcome = run_scenario(scenario(), tmp_path, console, stages=stage)
    assert outcome.exit_code == EXIT_INTERRUPTED and "after the run ended" in str(outcome.error)
    assert outcome.summary is not None and outcome.summary["complete"] is True
