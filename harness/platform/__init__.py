"""Platforms: where the service runs.  ``local`` (the embedded cluster, the default), ``kubernetes`` (the cluster
a kubeconfig names: ``harness.platform.kubernetes.cluster``) and ``external`` (``target.url``: your own running
endpoint, nothing deployed).

In: a resolved ``Scenario``, the run's id, clock and log folder, and ``keep`` (``kibench run --keep``: leave
what the run made on a cluster).  Out: an object implementing ``harness.model.Platform`` (not yet deployed;
making it reads local files only, so a refused kubeconfig or context fails before a run folder exists), or,
for ``kibench run --dry-run``, the lines and manifests of the plan (``dry_run``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ClusterRefused
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

        return ClusterPlatform(scenario, run_id, t0_monotonic, keep=keep, log_dir=log_dir)
    from harness.platform.local.client import LocalPlatform

    return LocalPlatform.from_scenario(scenario, t0_monotonic=t0_monotonic, log_dir=log_dir, run_id=run_id)


@dataclass(frozen=True)
class DryRun:
    """What ``kibench run --dry-run`` shows of the platform: plan lines, manifests (YAML) and a refusal, if any."""

    lines: list[str] = field(default_factory=list)
    manifests: str = ""
    refusal: ClusterRefused | None = None


def dry_run(scenario: Scenario, run_id: str, check: bool = True) -> DryRun:
    """What a run would do on its platform, touching nothing.

    Only ``platform.kind: kubernetes`` has a plan to show (the embedded cluster is made and dropped by each run);
    ``check`` reads the cluster (GET only) and records where a run would be refused.  A kubeconfig without the
    scenario's context raises ``ClusterRefused`` at once."""
    if scenario.target is not None or scenario.platform.kind != "kubernetes":
        return DryRun()
    from harness.platform.kubernetes import plan

    built, driver = plan.build(scenario, run_id)
    refusal = None
    if check:
        try:
            plan.check(built, driver, scenario.platform.namespace)
        except ClusterRefused as exc:
            refusal = exc
    return DryRun(built.lines, built.yaml(), refusal)


__all__ = ["DryRun", "create_platform", "dry_run"]
