"""Platforms: where the service runs.  ``local`` (embedded default), ``external`` (``target.url``: your
own running endpoint, nothing deployed) and, later, ``kubernetes``.

In: a resolved ``Scenario``.  Out: an object implementing ``harness.model.Platform``.
"""

from __future__ import annotations

from harness.errors import InputError
from harness.model import Platform
from harness.scenario import Scenario


def create_platform(scenario: Scenario, t0_monotonic: float, log_dir: str) -> Platform:
    """The platform the scenario names, not yet deployed."""
    if scenario.target is not None:  # the user's running endpoint (docs/load.md)
        from harness.platform.external import ExternalTarget

        return ExternalTarget(scenario.target, t0_monotonic)
    if scenario.platform.kind == "local":
        from harness.platform.local.client import LocalPlatform

        return LocalPlatform.from_scenario(scenario, t0_monotonic=t0_monotonic, log_dir=log_dir)
    raise InputError(f"platform.kind: {scenario.platform.kind!r} is not supported yet; use 'local'")


__all__ = ["create_platform"]
