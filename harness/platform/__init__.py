"""Platforms: where the service runs.  ``local`` (the embedded cluster, the default), ``kubernetes`` (the cluster
a kubeconfig names: ``harness.platform.kubernetes.cluster``) and ``external`` (``target.url``: your own running
endpoint, nothing deployed).

In: a resolved ``Scenario``, the run's id, clock and log folder, and ``keep`` (``kibench run --keep``: leave
what the run made on a cluster).  Out: an object implementing ``harness.model.Platform`` (not yet deployed;
making it reads local files only, so a refused kubeconfig or context fails before a run folder exists), or,
for ``kibench run --dry-run``, the lines and manifests of the plan (``dry_run``).
"""

from __future__ import annotations

from pathlib import Path

from harness.model import Platform
from harness.scenario import Scenario


def create_platform(
    scenario: Scenario, t0_monotonic: float, log_dir: str, run_id: str | None = None, keep: bool = False
) -> Platform:
    """The platform the scenario names, not yet deployed (``run_id`` defaults to the run folder's name)."""
    run_id = run_id or Path(log_dir).parent.name
    if scenario.target is not None:  # the user's running endpoint (docs/load.md)
        from harness.platform.external import ExternalTarget

        return ExternalTarget(scenario.target, t0_monotonic)
    if scenario.platform.kind == "kubernetes":
        from harness.platform.kubernetes.cluster import ClusterPlatform

        return ClusterPlatform(scenario, run_id, t0_monotonic, keep=keep)
    from harness.platform.local.client import LocalPlatform

    return LocalPlatform.from_scenario(scenario, t0_monotonic=t0_monotonic, log_dir=log_dir, run_id=run_id)


def dry_run(scenario: Scenario, run_id: str, check: bool = True) -> tuple[list[str], str]:
    """What a run would do on its platform, touching nothing: (lines, manifests as YAML).

    Only ``platform.kind: kubernetes`` has a plan to show (the embedded cluster is made and dropped by each run);
    ``check`` reads the cluster (GET only) and raises ``ClusterRefused`` where a run would refuse."""
    if scenario.target is not None or scenario.platform.kind != "kubernetes":
        return [], ""
    from harness.platform.kubernetes import plan

    built, driver = plan.build(scenario, run_id)
    if check:
        plan.check(built, driver, scenario.platform.namespace)
    return built.lines, built.yaml()


__all__ = ["create_platform", "dry_run"]
