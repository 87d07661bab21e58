"""What the local platform daemon is told to run: a JSON-serialisable spec.

In: fields from the scenario (service and platform sections) and the run's clock origin.
Out: ``DaemonSpec``, passed to the daemon process as JSON on its command line.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DaemonSpec:
    """Everything the daemon needs; times in seconds."""

    replicas: int = 2
    service: dict[str, Any] = field(default_factory=dict)  # the scenario's service section, as JSON
    t0_monotonic: float = 0.0  # the run's clock origin (CLOCK_MONOTONIC is shared by all processes)
    deployment: str = "kibench-svc"
    node: str = "local-node-0"
    probe_period_s: float = 0.5
    probe_timeout_s: float = 1.0
    probe_failure_threshold: int = 3
    termination_grace_s: float = 5.0
    restart_backoff_s: float = 1.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DaemonSpec:
        return cls(**json.loads(text))
