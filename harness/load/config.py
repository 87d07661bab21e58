"""What one load process is told to do: a JSON-serialisable ``LoadConfig``.

In: the scenario's ``load`` (and optional ``target``) section, the URL the load goes to and the run's
clock origin.  Out: ``LoadConfig`` (written to a JSON file that ``python -m harness.load --config-file``
reads; ``--config JSON`` works too) and ``for_process`` to derive the master's and each worker's copy.
No Locust import here: the orchestrator imports this module, and Locust monkey-patches on import.

``load.placement: cluster``: the master listens on the Job pod's IP (``deployspec.POD_IP_ENV``, which the
Job's pod gets from the Downward API) at ``deployspec.LOAD_MASTER_PORT``, and starts no worker of its own: the
workers are the Deployment ``kibench cluster run`` made (remote.py).  Anywhere but in that pod it is refused.

A bearer token never enters the config: only the name of the environment variable that holds it,
which the load process (started with the orchestrator's environment) reads itself.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from harness import deployspec
from harness.errors import InputError
from harness.load.shapes import Segment, segments_for
from harness.scenario import LoadSpec, TargetSpec


@dataclass(frozen=True)
class LoadConfig:
    """Everything a load process needs; times in seconds, run-relative unless named otherwise."""

    target_url: str
    out_dir: str
    t0_monotonic: float
    segments: tuple[Segment, ...]
    endpoint: str = "/v1/predict"
    max_concurrency: int = 256
    timeout_s: float = 10.0
    workload: dict[str, Any] = field(default_factory=lambda: {"kind": "predict"})
    model: str = "open"
    arrivals: str = "uniform"
    burstiness: float = 1.0
    seed: int = 1
    users: int = 0
    spawn_rate: float = 0.0
    wait_time_s: float = 0.0
    wait_time_max_s: float | None = None
    locustfile: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    bearer_token_env: str | None = None
    workers: int = 1
    worker_index: int = 0
    master_port: int = 0
    worker: str = "w0"
    placement: str = "local"  # local: worker processes here; cluster: remote workers connect (remote.py)
    master_host: str = "127.0.0.1"  # where the master listens
    flush_interval_s: float = 1.0
    part_rotate_s: float = 60.0

    @property
    def duration_s(self) -> float:
        return self.segments[-1].end_s if self.segments else 0.0

    @property
    def distributed(self) -> bool:
        return self.workers > 1 or self.placement == "cluster"

    @property
    def worker_concurrency(self) -> int:
        """This worker's share of the in-flight cap."""
        return max(1, math.ceil(self.max_concurrency / self.workers))

    def request_headers(self) -> dict[str, str]:
        """Headers for every request, with the bearer token read from its environment variable."""
        headers = dict(self.headers)
        if self.bearer_token_env:
            headers["Authorization"] = f"Bearer {os.environ.get(self.bearer_token_env, '')}"
        return headers

    def for_process(self, role: str, index: int = 0) -> LoadConfig:
        """The copy for the master (``role="master"``) or worker ``index`` of a distributed run."""
        if role == "master":
            return replace(self, worker="master", worker_index=0)
        return replace(self, worker=f"w{index}", worker_index=index)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadConfig:
        data = json.loads(text)
        data["segments"] = tuple(Segment(**s) for s in data["segments"])
        return cls(**data)


def master_host(spec: LoadSpec) -> str:
    """Where the master listens: loopback, or for ``placement: cluster`` the Job pod's IP (refused elsewhere)."""
    if spec.placement != "cluster":
        return "127.0.0.1"
    ip = os.environ.get(deployspec.POD_IP_ENV)
    if not ip:
        raise InputError(f"load.placement: cluster needs the Locust master in the Job's pod "
                         f"({deployspec.POD_IP_ENV} is not set): run the scenario with kibench cluster run, "
                         "or set load.placement=local")  # fmt: skip
    return ip


def config_from_spec(
    spec: LoadSpec, target_url: str, out_dir: str, t0_monotonic: float, target: TargetSpec | None = None
) -> LoadConfig:
    """Build the load process's config from the scenario's load (and target) sections."""
    if spec.locustfile is not None and not os.path.isfile(spec.locustfile):
        raise InputError(f"load.locustfile: {spec.locustfile}: no such file; fix the path in the scenario")
    if target is not None and target.bearer_token_env and target.bearer_token_env not in os.environ:
        name = target.bearer_token_env
        raise InputError(f"target.bearer_token_env: environment variable {name} is not set; export it")
    return LoadConfig(
        target_url=target_url,
        out_dir=out_dir,
        t0_monotonic=t0_monotonic,
        segments=segments_for(spec),
        endpoint=spec.path,
        max_concurrency=spec.max_concurrency,
        timeout_s=spec.timeout,
        workload=spec.workload.model_dump(mode="json"),
        model=spec.model,
        arrivals=spec.arrivals,
        burstiness=spec.burstiness,
        seed=spec.seed,
        users=spec.users or 0,
        spawn_rate=spec.spawn_rate or float(spec.users or 1),
        wait_time_s=spec.wait_time,
        wait_time_max_s=spec.wait_time_max,
        locustfile=spec.locustfile,
        headers=dict(target.headers) if target else {},
        bearer_token_env=target.bearer_token_env if target else None,
        workers=spec.workers,
        placement=spec.placement,
        master_host=master_host(spec),
        master_port=deployspec.LOAD_MASTER_PORT if spec.placement == "cluster" else 0,
    )
