"""Every scenario on the embedded platform and on a cluster through its kubeconfig, side by side.

    .venv/bin/python scripts/cluster_sweep.py [SCENARIO ...] [--kubeconfig FILE] [--full-length] [--out DIR]

Without ``--kubeconfig`` it starts an embedded cluster of its own (``python -m harness.platform.local``: 3 nodes of
4 GPU slots each) and points the runs at its kubeconfig, exactly as at a cluster of yours.  Each scenario
(default: every file in scenarios/) runs twice, one after the other: ``platform.kind: local`` (its own embedded
cluster, as ``kibench run`` does by default) and ``--set platform.kind=kubernetes --set platform.kubeconfig=FILE``.
Runs are compressed (``compressed()``: faults 5 s into the load, 25 s of load, spikes shortened) unless
``--full-length``.  A scenario that cannot run on a cluster must be refused there (exit 2) with a message that
says why (hard node loss).

Prints a table: per scenario and platform the exit code, requests, throughput, p50/p95 latency, error rate and
the fault's time to capacity, and whether both summaries have the same keys (top level and metrics).  Exits 1
when a summary's keys differ or a refusal is missing.  The tests (tests/kube/test_scenario_sweep.py) run a
subset of it in CI; the figures are noisy on a shared machine: compare the columns of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
KIBENCH = [sys.executable, "-c", "from harness.cli import main; main()"]
#: The separately started cluster: enough nodes and GPU slots for every scenario (node-drain needs 3 nodes), and
#: the compressed controller timings the scenarios' HPAs ask for.  On a real cluster these are the cluster's own
#: (kube-controller-manager --horizontal-pod-autoscaler-sync-period, metrics-server --metric-resolution).
CLUSTER_PLATFORM = {
    "nodes": {"count": 3, "gpu_slots": 4},
    "hpa": {
        "sync_period": "2s",
        "metric_resolution": "1s",
        "downscale_stabilization": "20s",
        "cpu_initialization_period": "10s",
        "initial_readiness_delay": "5s",
    },
}
#: Scenarios a cluster must refuse, and the words the refusal must contain.
REFUSED_ON_CLUSTER = {"node-failure": "runs on the embedded cluster only"}


def compressed(scenario: dict[str, Any]) -> list[str]:
    """``--set`` overrides that shorten a scenario while keeping its story (fault, spike, recovery)."""
    sets: list[str] = []
    load = scenario.get("load") or {}
    shape = load.get("shape") or {}
    if shape.get("kind") == "spike":
        sets += ["load.shape.before=5s", "load.shape.hold=15s", "load.shape.after=10s"]
    elif scenario.get("faults"):
        sets += ["load.duration=25s"] + [f"faults[{i}].at=5s" for i in range(len(scenario["faults"]))]
    else:
        sets += ["load.duration=8s"]
    return sets


@dataclass
class Outcome:
    scenario: str
    platform: str
    code: int
    summary: dict[str, Any] = field(default_factory=dict)
    output: str = ""

    def figure(self, *path: str) -> Any:
        node: Any = self.summary.get("metrics", {})
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        return node

    def keys(self) -> tuple[set[str], set[str]]:
        return set(self.summary), set(self.summary.get("metrics", {}))


def run(
    path: Path,
    platform: str,
    kubeconfig: Path | None,
    results: Path,
    full_length: bool = False,
    extra: tuple[str, ...] = (),
) -> Outcome:
    """One ``kibench run`` (``extra``: more ``--set`` overrides); its summary.json (empty when refused)."""
    data = yaml.safe_load(path.read_text())
    sets = [*([] if full_length else compressed(data)), *extra]
    argv = [*KIBENCH, "run", str(path), "--results", str(results)]
    for item in sets:
        argv += ["--set", item]
    if platform == "kubernetes":
        argv += ["--set", "platform.kind=kubernetes", "--set", f"platform.kubeconfig={kubeconfig}"]
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "KUBERNETES_CONTEXT")}
    env.setdefault("KIBENCH_LOOPBACK_ONLY", "1")
    before = set(results.iterdir()) if results.exists() else set()
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env, cwd=ROOT)
    made = sorted(set(results.iterdir()) - before) if results.exists() else []
    summary: dict[str, Any] = {}
    if made and (made[-1] / "summary.json").exists():
        summary = json.loads((made[-1] / "summary.json").read_text())
    return Outcome(data["name"], platform, proc.returncode, summary, proc.stdout + proc.stderr)


def start_cluster(folder: Path) -> tuple[subprocess.Popen[str], Path]:
    from harness.platform.local.client import start_daemon
    from harness.platform.local.spec import ClusterSpec

    kubeconfig = folder / "kubeconfig"
    proc, _ = start_daemon(ClusterSpec(CLUSTER_PLATFORM), str(folder / "logs"), str(kubeconfig))
    return proc, kubeconfig


def problems(local: Outcome, cluster: Outcome) -> list[str]:
    """What is wrong with a pair of runs: differing summary keys, a missing or unclear refusal."""
    refusal = REFUSED_ON_CLUSTER.get(local.scenario)
    if refusal is not None:
        ok = cluster.code == 2 and refusal in cluster.output
        return [] if ok else [f"{local.scenario}: the cluster run was not refused (exit {cluster.code})"]
    if not cluster.summary or not local.summary:
        return [f"{local.scenario}: no summary (local exit {local.code}, cluster exit {cluster.code})"]
    found = []
    for what, a, b in zip(("top-level", "metrics"), local.keys(), cluster.keys(), strict=True):
        if a != b:
            only = f"local only {sorted(a - b)}, cluster only {sorted(b - a)}"
            found.append(f"{local.scenario}: {what} keys differ: {only}")
    return found


def row(o: Outcome) -> str:
    def num(value: Any, fmt: str = "{:.1f}") -> str:
        return fmt.format(value) if isinstance(value, int | float) else "-"

    faults = o.summary.get("faults") or [{}]
    capacity = faults[0].get("time_to_capacity_s") if faults else None
    return (
        f"| {o.scenario} | {o.platform} | {o.code} | {num(o.figure('requests'), '{:.0f}')} "
        f"| {num(o.figure('throughput_rps'))} | {num(o.figure('latency_ms', 'p50'))} "
        f"| {num(o.figure('latency_ms', 'p95'))} | {num(o.figure('error_rate'), '{:.4f}')} | {num(capacity)} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", help="scenario files (default: scenarios/*.yaml)")
    parser.add_argument("--kubeconfig", type=Path, help="a cluster's kubeconfig (default: start an embedded one)")
    parser.add_argument("--full-length", action="store_true", help="run the scenarios as written (slow)")
    parser.add_argument("--out", type=Path, help="where the run folders go (default: a temporary folder)")
    args = parser.parse_args()
    paths = [Path(p) for p in args.scenarios] or sorted((ROOT / "scenarios").glob("*.yaml"))
    out = args.out or Path(tempfile.mkdtemp(prefix="kibench-sweep-"))
    cluster_proc = None
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        cluster_proc, kubeconfig = start_cluster(out / "cluster")
    found: list[str] = []
    print("| scenario | platform | exit | requests | rps | p50 ms | p95 ms | error rate | time to capacity s |")
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for path in paths:
            local = run(path, "local", None, out / "local", args.full_length)
            cluster = run(path, "kubernetes", kubeconfig, out / "kubernetes", args.full_length)
            print(row(local), row(cluster), sep="\n", flush=True)
            found += problems(local, cluster)
    finally:
        if cluster_proc is not None:
            from harness.procs import stop

            stop(cluster_proc, grace_s=10)
    for line in found:
        print(f"problem: {line}")
    print(f"run folders: {out}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
