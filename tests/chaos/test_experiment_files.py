"""Every experiment in chaos/ runs to completion against the embedded cluster (slow: ~60 s in all).

Each file runs through the harness's scheduler (real chaoslib, chaostoolkit-kubernetes and kibench's own
activities, the cluster reached through its kubeconfig, as ``kibench run`` passes it) with its
waits compressed through ``vars``; standalone-style, ``slo_holds`` sends its own requests because no
load is running.  The experiment must complete without deviating and its rollbacks must succeed.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from harness.chaos import ChaosRun, chaos_context, plan_faults
from harness.procs import poll_until
from harness.scenario import FaultSpec
from tests.chaos.conftest import ROOT

pytestmark = pytest.mark.slow

COMPRESSED: dict[str, dict[str, Any]] = {
    "pod-kill": {"settle_s": 1},
    "pod-kill-half": {"settle_s": 1},
    "node-failure": {"node_down_s": 2, "settle_s": 1},
    "node-drain": {"settle_s": 1},
    "hung-replica": {"settle_s": 1},
    "latency-spike": {"spike_s": 1, "settle_s": 1},
    "error-burst": {"burst_s": 1, "settle_s": 1},
    "rolling-update": {"settle_s": 1},
}


@pytest.mark.parametrize("name", sorted(COMPRESSED))
def test_experiment_completes_without_deviation(name: str, tmp_path: Path, kube_platform) -> None:
    kube_platform.wait_healthy()
    events: list[dict[str, Any]] = []
    t0 = time.monotonic()

    def log(kind: str, at_s: float | None = None, **attrs: Any) -> None:
        events.append({"kind": kind, **attrs})

    def now_s() -> float:
        return time.monotonic() - t0

    plan = plan_faults([FaultSpec(at=0, experiment=f"chaos/{name}.yaml", vars=COMPRESSED[name])], "test", ROOT)
    (tmp_path / "logs").mkdir()
    # No load runs here: no live traffic file, so slo_holds sends requests of its own (as under `chaos run`).
    context = chaos_context(tmp_path, kube_platform.details, log, now_s)
    del context.configuration["kibench_live_stats"]  # as under `chaos run`: slo_holds measures for itself
    chaos = ChaosRun(plan, context)
    chaos.start(load_start_s=now_s())
    poll_until(lambda: any(e["kind"] == "chaos_end" for e in events), 150.0, 0.2)
    chaos.stop()
    [end] = [e for e in events if e["kind"] == "chaos_end"]
    failed = [e for e in events if e["kind"] == "chaos_action" and e["status"] != "succeeded"]
    assert end["status"] == "completed" and end["steady_state_before"] and end["steady_state_after"], (end, failed)
    assert not end["deviated"]
    assert end["rollbacks_failed"] == 0 and not failed
    methods = [e for e in events if e["kind"] == "chaos_action" and e["phase"] == "method"]
    assert methods and methods[0]["activity"] == "action", events
    kube_platform.wait_healthy(timeout_s=90)
