"""The simulated cluster's objects and what its parts share.

In: nothing (types and two pure functions).  Out: ``SimPod``, ``SimNode``, ``ClusterOptions`` (the model's
constants), ``Tick`` (a timed control event), ``RequestEngine`` (what the DES and the fluid model offer the
cluster), ``ControlPlane`` (the state and verbs that ``Cluster``'s handlers share: cluster.py defines them,
cluster_faults.py and node_scaling.py use them) and the probes' timing (``first_tick``, ``ready_tick``).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from harness.model import Event
from harness.scenario import ProbeSpec, Scenario


class RequestEngine(Protocol):
    """Serves the requests between two control events; the cluster asks it for gauges and CPU."""

    def advance(self, t0: float, t1: float, ready: list[int]) -> None: ...

    def pod_gone(self, pod: int, t_s: float) -> None: ...

    def drained_at(self, pod: int, t_s: float) -> float: ...

    def gauges(self, pods: np.ndarray, t_s: float, since_s: np.ndarray) -> dict[str, np.ndarray]: ...

    def done_between(self, pods: np.ndarray, t0: float, t1: float) -> np.ndarray: ...

    def last_done(self) -> float: ...


@dataclass
class SimPod:
    id: int
    name: str
    created_s: float
    node: int | None = None
    scheduled_s: float | None = None
    container_s: float | None = None  # the current container's start (None: no container running)
    up_s: float | None = None  # its process answers HTTP
    ready: bool = False
    ready_s: float | None = None  # last Ready transition
    deleted_s: float | None = None
    gone: bool = False
    restarts: int = 0
    epoch: int = 0  # container incarnation: events of an older one are stale
    cpu_mark: float | None = None  # when this container was last scraped (CPU needs two readings)
    sample: tuple[float, dict[str, float]] | None = None  # (t_s, values) of the last scrape


@dataclass
class SimNode:
    name: str
    slots: int
    ready: bool = True
    used: int = 0
    down_until: float | None = None
    created_s: float = 0.0
    unschedulable: bool = False  # cordoned by the node autoscaler's scale-down
    removed: bool = False  # the Node object is gone (its index stays: pods name nodes by index)


@dataclass
class ClusterOptions:
    process_start_s: float  # container start -> process answers HTTP (mean)
    process_start_jitter: float  # uniform +/- this fraction
    deploy_s: float  # run start -> the Deployment's pods are created
    load_start_delay_s: float  # deployed -> the load's first request
    seed: int
    process_start_samples: tuple[float, ...] = ()  # measured (calibrate.py): drawn instead of mean +/- jitter
    # an experiment starting -> the API has acted on its action: measured 0.040 and 0.046 s (chaos_start ->
    # pod_deleted, two pod-kill-under-load runs, 2 December 2026; the steady-state probes run first)
    fault_delay_s: float = 0.05
    shutdown_s: float = 0.2  # a drained replica's process exits and its pod is deleted (uvicorn's shutdown)
    # the HPA's syncs fall at load start + this (mod sync_period): a measured run's phase (calibrate.hpa_phase_s);
    # None: every sync_period from the deploy
    hpa_phase_s: float | None = None


@dataclass(order=True)
class Tick:
    t_s: float
    seq: int
    kind: str = field(compare=False)
    arg: Any = field(compare=False, default=None)


class ControlPlane:
    """The state and verbs ``Cluster`` (cluster.py) defines and its mixed-in handlers use."""

    sc: Scenario
    opt: ClusterOptions
    rng: random.Random
    pods: list[SimPod]
    nodes: list[SimNode]
    events: list[Event]
    engine: RequestEngine | None
    finished: bool

    def at(self, t_s: float, kind: str, arg: Any = None) -> None:
        raise NotImplementedError

    def emit(self, t_s: float, kind: str, **attrs: Any) -> None:
        raise NotImplementedError

    def touch(self) -> None:
        raise NotImplementedError

    def reconcile(self, t: float) -> None:
        raise NotImplementedError

    def schedule(self, t: float) -> None:
        raise NotImplementedError

    def start_container(self, pod: SimPod, t: float) -> None:
        raise NotImplementedError

    def delete(self, pod: SimPod, t: float, grace_s: float, reason: str) -> None:
        raise NotImplementedError

    def gone(self, t: float, pod_id: int) -> None:
        raise NotImplementedError


def first_tick(first_s: float, period_s: float, ok_from_s: float) -> float:
    """The first probe tick (``first_s + k * period_s``) at or after ``ok_from_s``."""
    if ok_from_s <= first_s:
        return first_s
    return first_s + math.ceil((ok_from_s - first_s) / period_s - 1e-9) * period_s


def ready_tick(spec: ProbeSpec, start_s: float, ok_from_s: float) -> float:
    """When a readiness probe started at ``start_s`` has ``success_threshold`` passes in a row."""
    first = first_tick(start_s + spec.initial_delay, spec.period, ok_from_s)
    return first + (spec.success_threshold - 1) * spec.period
