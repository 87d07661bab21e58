"""The ``kibench cluster run`` command's body: validate, plan or submit, print, and the exit code.

In: the scenario file, ``--set`` overrides, the results folder, ``--keep``, ``--dry-run``, a console and
``faults``: what the scenario's faults need of the API (``harness.chaos.fault_access``, which the CLI, above
both stages, derives after refusing hard node loss), None without faults.
Out: the exit code (the in-cluster run's; 2 for a scenario this command refuses; 3 when the cluster fails).
The scenario is validated here as the pod will run it (``platform.kind: kubernetes``) before anything is
sent.  ``--dry-run`` prints the plan and the manifests and reads the cluster (GET only) for what a run would
refuse (exit 2 then).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.platform.kubernetes.harness_job import FaultRules
from harness.platform.kubernetes.submit import ClusterRun
from harness.scenario import load_scenario


def cluster_run(
    file: Path, sets: list[str], results: Path, keep: bool, dry_run: bool, console: Any, faults: FaultRules | None
) -> int:
    scenario = load_scenario(file, [*sets, "platform.kind=kubernetes"])
    text = file.read_text(encoding="utf-8")
    job = ClusterRun(scenario, text, sets, results, keep, lambda line: console.print(line, markup=False,
                                                                                     highlight=False),
                     faults=faults)  # fmt: skip
    if dry_run:
        for line in [*job.plan_lines(), job.check()]:
            console.print(f"# {line}", markup=False)
        console.file.flush()
        print("---\n" + yaml.safe_dump_all(job.manifests(), sort_keys=False), end="")
        return 0
    console.print(f"kibench cluster run: {scenario.name!r} as Job {job.namespace}/{job.objects.job_name} on context "
                  f"{job.cluster.context!r}", markup=False)  # fmt: skip
    outcome = job.run()
    if outcome.error:
        console.print(f"error: {outcome.error}", markup=False)
    if outcome.kept:
        console.print(outcome.kept, markup=False)
    if outcome.run_dir is not None:
        console.print(f"run folder (copied back): {outcome.run_dir}", markup=False)
    console.print(f"exit {outcome.exit_code} (the in-cluster run's)", markup=False)
    return outcome.exit_code
