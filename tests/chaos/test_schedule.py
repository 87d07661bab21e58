"""Scheduling experiments through chaoslib on threads: timing, events, journals, interruption.

Real chaoslib, real chaostoolkit-kubernetes activities, the embedded cluster through its kubeconfig; the
orchestrator's side (Observer.log, the run clock) is played by a list and ``time.monotonic``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from harness.chaos import ChaosRun, chaos_context, plan_faults
from harness.procs import poll_until
from harness.scenario import FaultSpec
from tests.chaos.conftest import SELECTOR

MODULES = {"count_pods": "chaosk8s.pod.probes", "scale_deployment": "chaosk8s.deployment.actions"}
ARGUMENTS = {
    "count_pods": {"label_selector": SELECTOR, "ns": "${kibench_namespace}"},
    "scale_deployment": {"name": "${kibench_deployment}", "ns": "${kibench_namespace}"},
}


def _activity(kind: str, name: str, func: str, **arguments: Any) -> dict[str, Any]:
    provider = {"type": "python", "module": MODULES[func], "func": func, "arguments": {**ARGUMENTS[func], **arguments}}
    return {"type": kind, "name": name, "provider": provider}


def _experiment(path: Path, method: list, rollbacks: list | None = None, probes: list | None = None) -> Path:
    probe = _activity("probe", "three-pods", "count_pods")
    probe["tolerance"] = 3
    path.write_text(
        yaml.safe_dump(
            {
                "title": f"test {path.stem}",
                "description": "a test experiment",
                "steady-state-hypothesis": {"title": "three pods", "probes": probes or [probe]},
                "method": method,
                "rollbacks": rollbacks or [],
            }
        )
    )
    return path


class Recorder:
    """Plays Observer.log: keeps every event, thread-safe."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def now_s(self) -> float:
        return time.monotonic() - self.t0

    def log(self, kind: str, at_s: float | None = None, **attrs: Any) -> None:
        with self.lock:
            self.events.append({"t_s": self.now_s() if at_s is None else at_s, "kind": kind, **attrs})

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["kind"] == kind]

    def wait(self, kind: str, count: int, timeout_s: float) -> list[dict[str, Any]]:
        poll_until(lambda: len(self.of(kind)) >= count, timeout_s, 0.05)
        found = self.of(kind)
        assert len(found) >= count, f"{count} {kind} events expected, got {self.events}"
        return found


def _run(tmp_path: Path, faults: list[FaultSpec], platform, rec: Recorder) -> ChaosRun:
    (tmp_path / "run" / "logs").mkdir(parents=True, exist_ok=True)
    plan = plan_faults(faults, source="test", base_dir=tmp_path)
    return ChaosRun(plan, chaos_context(tmp_path / "run", platform.details, rec.log, rec.now_s), stop_timeout_s=60)


def test_scheduled_experiments_start_on_time_and_become_events_and_journals(tmp_path, kube_platform) -> None:
    kube_platform.wait_healthy()
    exp = _experiment(tmp_path / "probe-only.yaml", [_activity("probe", "count", "count_pods")])
    rec = Recorder()
    chaos = _run(
        tmp_path, [FaultSpec(at=1.0, experiment=exp.name), FaultSpec(at=2.5, experiment=exp.name)], kube_platform, rec
    )
    load_start = rec.now_s()
    chaos.start(load_start_s=load_start)
    ends = rec.wait("chaos_end", 2, timeout_s=60)
    outcomes = chaos.stop()
    starts = sorted(rec.of("chaos_start"), key=lambda e: e["index"])
    for start, offset in zip(starts, (1.0, 2.5), strict=True):
        assert 0.0 <= start["t_s"] - (load_start + offset) < 0.5, start
        assert abs(start["scheduled_s"] - (load_start + offset)) < 1e-6
    assert [e["status"] for e in ends] == ["completed", "completed"] and not any(e["deviated"] for e in ends)
    actions = [e for e in rec.of("chaos_action") if e["fault"] == "probe-only"]
    assert [e["phase"] for e in actions] == ["hypothesis_before", "method", "hypothesis_after"]
    assert all(e["status"] == "succeeded" and e["start_s"] <= e["end_s"] for e in actions)
    assert actions[1]["output"] == 3
    for name in ("probe-only", "probe-only-2"):
        journal = json.loads((tmp_path / "run" / "chaos" / f"{name}.journal.json").read_text())
        assert journal["status"] == "completed" and journal["run"][0]["output"] == 3
    assert sorted(o.name for o in outcomes) == ["probe-only", "probe-only-2"]
    assert "Running experiment" in (tmp_path / "run" / "logs" / "chaos.log").read_text()


def test_stop_interrupts_a_running_experiment_and_still_plays_its_rollbacks(tmp_path, kube_platform) -> None:
    kube_platform.wait_healthy()
    scale_up = _activity("action", "scale-up", "scale_deployment", replicas=4)
    scale_up["pauses"] = {"after": 120}
    exp = _experiment(
        tmp_path / "scale-and-wait.yaml",
        [scale_up, _activity("action", "never-runs", "scale_deployment", replicas=6)],
        [_activity("action", "scale-back", "scale_deployment", replicas=3)],
    )
    rec = Recorder()
    chaos = _run(tmp_path, [FaultSpec(at=0.2, experiment=exp.name)], kube_platform, rec)
    chaos.start(load_start_s=rec.now_s())
    rec.wait("chaos_action", 2, timeout_s=30)  # the hypothesis probe, then scale-up (now in its 120 s pause)
    assert kube_platform.deployment().spec.replicas == 4
    began = time.monotonic()
    chaos.stop()
    assert time.monotonic() - began < 60, "stop() waited for the pause instead of interrupting it"
    [end] = rec.of("chaos_end")
    assert end["status"] == "interrupted" and end["rollbacks"] == 1 and end["rollbacks_failed"] == 0
    names = [(e["name"], e["phase"]) for e in rec.of("chaos_action")]
    assert ("scale-back", "rollback") in names and ("never-runs", "method") not in names
    assert kube_platform.deployment().spec.replicas == 3
    journal = json.loads((tmp_path / "run" / "chaos" / "scale-and-wait.journal.json").read_text())
    assert journal["status"] == "interrupted" and journal["rollbacks"][0]["status"] == "succeeded"
    kube_platform.wait_healthy()


def test_a_broken_steady_state_is_reported_as_deviated_and_rolled_back(tmp_path, kube_platform) -> None:
    kube_platform.wait_healthy()
    scale_up = _activity("action", "scale-to-five", "scale_deployment", replicas=5)
    scale_up["pauses"] = {"after": 1}
    exp = _experiment(
        tmp_path / "deviates.yaml", [scale_up], [_activity("action", "scale-back", "scale_deployment", replicas=3)]
    )
    rec = Recorder()
    chaos = _run(tmp_path, [FaultSpec(at=0.0, experiment=exp.name)], kube_platform, rec)
    chaos.start(load_start_s=rec.now_s())
    [end] = rec.wait("chaos_end", 1, timeout_s=60)
    chaos.stop()
    assert end["deviated"] is True and end["status"] == "completed" and end["rollbacks"] == 1
    assert kube_platform.deployment().spec.replicas == 3
    kube_platform.wait_healthy()


def test_faults_whose_time_never_comes_are_reported_skipped(tmp_path, kube_platform) -> None:
    exp = _experiment(tmp_path / "late.yaml", [_activity("probe", "count", "count_pods")])
    rec = Recorder()
    chaos = _run(tmp_path, [FaultSpec(at=300, experiment=exp.name)], kube_platform, rec)
    chaos.start(load_start_s=rec.now_s())
    chaos.stop()
    assert rec.of("chaos_start") == []
    assert [e["fault"] for e in rec.of("chaos_skipped")] == ["late"]
    chaos.stop()  # idempotent
    assert len(rec.of("chaos_skipped")) == 1


def test_a_steady_state_that_does_not_hold_skips_the_method_but_not_the_rollbacks(tmp_path, kube_platform) -> None:
    kube_platform.wait_healthy()
    impossible = _activity("probe", "ninety-nine-pods", "count_pods")
    impossible["tolerance"] = 99
    exp = _experiment(
        tmp_path / "gate.yaml",
        [_activity("action", "never-runs", "scale_deployment", replicas=5)],
        [_activity("action", "rollback-runs", "scale_deployment", replicas=3)],
        probes=[impossible],
    )
    rec = Recorder()
    chaos = _run(tmp_path, [FaultSpec(at=0.0, experiment=exp.name)], kube_platform, rec)
    chaos.start(load_start_s=rec.now_s())
    [end] = rec.wait("chaos_end", 1, timeout_s=30)
    chaos.stop()
    assert end["steady_state_before"] is False and end["steady_state_after"] is None
    phases = [(e["name"], e["phase"]) for e in rec.of("chaos_action")]
    assert phases == [("ninety-nine-pods", "hypothesis_before"), ("rollback-runs", "rollback")]
    assert kube_platform.deployment().spec.replicas == 3
