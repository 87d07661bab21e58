"""The ``kibench cluster run`` command's body: validate, plan or submit, print, and the exit code.

In: the scenario file, ``--set`` overrides, the results folder, ``--keep``, ``--dry-run`` and a console.
Out: the exit code (the in-cluster run's; 2 for a scenario this command refuses; 3 when the cluster fails).
The scenario is validated here as the pod will run it (``platform.kind: kubernetes``) before anything is
sent.  ``--dry-run`` prints the plan and the manifests and reads the cluster (GET only) for what a run would
refuse (exit 2 then).  ``faults:`` are refused (exit 2): the in-pod run has no RBAC for them yet.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.errors import ScenarioError
from harness.platform.kubernetes.submit import ClusterRun
from harness.scenario import load_scenario


def cluster_run(file: Path, sets: list[str], results: Path, keep: bool, dry_run: bool, console: Any) -> int:
    scenario = load_scenario(file, [*sets, "platform.kind=kubernetes"])
    if scenario.faults:
        raise ScenarioError(str(file), "faults", "kibench cluster run does not run faults inside the cluster yet; "
                            "run this scenario with kibench run --set platform.kind=kubernetes")  # fmt: skip
    text = file.read_text(encoding="utf-8")
    job = ClusterRun(scenario, text, sets, results, keep, lambda line: console.print(line, markup=False,
                                                                                     highlight=False))  # fmt: skip
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
