"""The scenario's ``faults`` entries: Chaos Toolkit experiments on a schedule (docs/chaos.md).

In: one mapping of the ``faults`` list.  Out: a frozen ``FaultSpec``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.scenario.units import Duration, _Model


class FaultSpec(_Model):
    """One Chaos Toolkit experiment started ``at`` seconds after the load starts (docs/chaos.md)."""

    at: Duration = Field(description="when the experiment starts, counted from the load start")
    experiment: str = Field(min_length=1, description="Chaos Toolkit experiment file, relative to the working dir")
    name: str | None = Field(
        None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=64, description="default: the file's stem"
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="configuration overrides, like `chaos run --var`")
    window: Duration | None = Field(None, description="fault window length; default: until experiment end/recovery")
    settle: Duration = Field(5.0, gt=0, description="how long the SLOs must hold again for time_to_slo_s")
