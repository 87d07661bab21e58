"""The acceptance sweep's CI subset: a scenario with a fault on the embedded platform and on a cluster through its
kubeconfig gives summaries with the same keys; a scenario a cluster cannot run (hard node loss) is refused there.

The whole sweep, every file in scenarios/ side by side with its figures, is ``scripts/cluster_sweep.py``
(docs/kubernetes.md); this test runs its functions on a compressed pod-kill scenario.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("cluster_sweep", ROOT / "scripts" / "cluster_sweep.py")
assert _spec is not None and _spec.loader is not None
sweep = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("cluster_sweep", sweep)  # dataclasses look their module up
_spec.loader.exec_module(sweep)


def test_a_fault_scenario_has_the_same_summary_keys_on_both_platforms(cluster_under_test, pod_kill_run, tmp_path):
    path = ROOT / "scenarios" / "pod-kill-under-load.yaml"
    shorter = ("load.duration=10s", "faults[0].at=3s")
    done, folder = pod_kill_run  # the same scenario on the embedded platform (tests/conftest.py), shared
    local = sweep.Outcome(path.stem, "local", done.returncode, json.loads((folder / "summary.json").read_text()))
    cluster = sweep.run(path, "kubernetes", cluster_under_test.kubeconfig, tmp_path / "kubernetes", extra=shorter)
    assert local.summary and cluster.summary, f"{local.output}\n{cluster.output}"
    assert sweep.problems(local, cluster) == []
    assert local.summary["platform"] == "local" and cluster.summary["platform"] == "kubernetes"
    for outcome in (local, cluster):  # the fault was injected and measured on both
        [fault] = outcome.summary["faults"]
        assert fault["failed_requests"] is not None and outcome.figure("requests") >= 250


def test_the_sweep_flags_a_cluster_run_that_was_not_refused():
    made_up = sweep.Outcome("node-failure", "local", 0, {"metrics": {}})
    ran = sweep.Outcome("node-failure", "kubernetes", 0, {"metrics": {}})
    assert sweep.problems(made_up, ran) == ["node-failure: the cluster run was not refused (exit 0)"]
    refused = sweep.Outcome("node-failure", "kubernetes", 2, output="... runs on the embedded cluster only ...")
    assert sweep.problems(made_up, refused) == []
    differs = sweep.Outcome("smoke", "kubernetes", 0, {"metrics": {"extra": 1}, "x": 1})
    assert len(sweep.problems(sweep.Outcome("smoke", "local", 0, {"metrics": {}}), differs)) == 2
