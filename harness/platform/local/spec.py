"""What the embedded cluster daemon is told at start: a JSON-serialisable spec.

In: the scenario's ``platform`` section (as JSON).  Out: ``ClusterSpec``, passed to the daemon process
as JSON on its command line; ``settings()`` validates the section again (it crossed a process
boundary) into ``PlatformSpec``.  The daemon uses only the cluster-wide parts of it, the settings a
real cluster keeps in its node pool, kubelet and kube-controller-manager configuration: ``nodes``
(count, GPU slots, autoscaler), ``hpa`` controller flags (sync period, tolerance, CPU initialization
period, initial readiness delay, downscale stabilization, metric resolution) and the kubelet's
restart back-off (``pod.restart_backoff_*``).  Everything about the service itself (replicas, probes,
grace period, rollout strategy, PDB, the HPA object) reaches the cluster as API objects.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.scenario import PlatformSpec


@dataclass(frozen=True)
class ClusterSpec:
    platform: dict[str, Any] = field(default_factory=dict)  # the scenario's platform section, as JSON
    #: serve metrics.k8s.io (metrics-server's API); False: a cluster without metrics-server (kind's default), the
    #: API answers 404 as a real one without the APIService does (the HPA's CPU is still measured inside)
    metrics_api: bool = True

    def settings(self) -> PlatformSpec:
        return PlatformSpec.model_validate(self.platform)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ClusterSpec:
        return cls(**json.loads(text))
