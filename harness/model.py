"""Data types the stages exchange, and the run-folder contract (schema_version 1).

In/out: frozen dataclasses only; no I/O here.  Stages (platform, load, observe, analysis, report)
never import each other: they meet through these types and through the files named in ``RunFiles``.

``Platform`` is the protocol every platform implements (local daemon, Kubernetes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

SCHEMA_VERSION = 1

#: The load's first seconds are a warm-up (connections, caches, the autoscaler's first look): the
#: ``steady_state`` phase and ``kibench compare`` start after it.  10 s, at most a fifth of the load.
WARMUP_S = 10.0
WARMUP_MAX_SHARE = 0.2


def default_warmup_s(load_duration_s: float) -> float:
    """The warm-up of a load of this length: ``min(WARMUP_S, WARMUP_MAX_SHARE * duration)``."""
    return min(WARMUP_S, WARMUP_MAX_SHARE * max(load_duration_s, 0.0))


@dataclass(frozen=True)
class Replica:
    """One replica (pod) as the platform sees it.  Times are seconds since the platform started."""

    name: str
    node: str | None  # None while Pending (not scheduled)
    port: int | None
    phase: str  # Pending | Starting | Running | CrashLoopBackOff | Unknown | Terminating | Failed
    ready: bool
    created_s: float
    ready_s: float | None = None
    restarts: int = 0
    version: int | str | None = None  # the revision (local) or image/config version


@dataclass(frozen=True)
class NodeState:
    """One node: Ready condition, cordon and GPU slots."""

    name: str
    ready: bool
    cordoned: bool = False
    gpu_slots: int = 0
    gpu_used: int = 0


@dataclass(frozen=True)
class PlatformState:
    """A snapshot of the platform: desired replicas, every replica, nodes and the HPA's metric values."""

    t_s: float
    desired_replicas: int
    replicas: tuple[Replica, ...] = ()
    nodes: tuple[NodeState, ...] = ()
    hpa_metrics: dict[str, float | None] = field(default_factory=dict)  # name -> value the HPA saw; name_target too
    platform_gauges: dict[str, float] = field(default_factory=dict)  # the platform's self-check (embedded cluster)

    @property
    def nodes_ready(self) -> int:
        return sum(1 for n in self.nodes if n.ready)

    @property
    def ready_replicas(self) -> int:
        return sum(1 for r in self.replicas if r.ready)

    @property
    def pods_total(self) -> int:
        return len(self.replicas)

    @property
    def pods_pending(self) -> int:
        return sum(1 for r in self.replicas if r.phase == "Pending")


@dataclass(frozen=True)
class Event:
    """One timeline event: ``kind`` plus free attributes; ``t_s`` since the run started."""

    t_s: float
    kind: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"t_s": round(self.t_s, 6), "kind": self.kind, **self.attrs}


@dataclass(frozen=True)
class Deployment:
    """What a platform returns after deploying: the one stable URL the load goes to."""

    target_url: str
    platform_kind: str
    details: dict[str, Any] = field(default_factory=dict)


class Platform(Protocol):
    """What the harness needs from a platform.  Times in returned objects are platform-relative."""

    kind: str

    def deploy(self) -> Deployment: ...

    def state(self) -> PlatformState: ...

    def events(self, since: int) -> tuple[list[Event], int]:
        """Events after cursor ``since`` and the new cursor."""
        ...

    def kill_pod(self, name: str) -> None: ...

    def scale(self, replicas: int) -> None: ...

    def teardown(self) -> None: ...


@dataclass(frozen=True)
class RunFiles:
    """The files of one run folder (docs/architecture.md#the-run-folder, schema_version 1)."""

    root: Path

    @property
    def scenario(self) -> Path:
        return self.root / "scenario.yaml"

    @property
    def requests(self) -> Path:
        """A Parquet dataset: a folder of parts, one or more per load process."""
        return self.root / "requests.parquet"

    @property
    def timeline(self) -> Path:
        return self.root / "timeline.parquet"

    @property
    def events(self) -> Path:
        return self.root / "events.jsonl"

    @property
    def run_meta(self) -> Path:
        """Facts the orchestrator knows and analysis needs: start time, platform, versions."""
        return self.root / "run.json"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def plots(self) -> Path:
        return self.root / "plots"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def usage(self) -> Path:
        """CPU and memory per pod and second (the embedded cluster) or metrics window (a cluster's metrics-server)."""
        return self.root / "usage.parquet"

    @property
    def resources(self) -> Path:
        """Where a cluster run's usage came from, the cluster VPA's recommendation, warnings (docs/resources.md)."""
        return self.root / "resources.json"


REQUEST_COLUMNS = (
    "t_intended_s",
    "t_sent_s",
    "latency_ms",
    "latency_raw_ms",
    "ttft_ms",
    "itl_mean_ms",
    "itl_max_ms",
    "status",
    "ok",
    "error",
    "bytes_out",
    "tokens_out",
    "replica",
    "phase",
    "worker",
)
