"""The scenario's ``cost`` section: prices that turn the replicas a run held into money.

In: the ``cost`` mapping.  Out: a frozen ``CostSpec``.
"""

from __future__ import annotations

from pydantic import Field

from harness.scenario.units import _Model


class CostSpec(_Model):
    """Prices that turn the replicas a run held into cost_usd (docs/reports.md#cost)."""

    gpu_hour_usd: float = Field(0.0, ge=0, description="price of one GPU for an hour (each replica holds pod.gpus)")
    cpu_hour_usd: float = Field(0.0, ge=0, description="price of one core for an hour (each replica: pod.cpu_request)")
    node_hour_usd: float = Field(0.0, ge=0, description="price of one node for an hour (nodes in the timeline)")
    memory_gib_hour_usd: float = Field(
        0.0, ge=0, description="price of one GiB of memory for an hour (right-sizing: requested vs recommended)"
    )
