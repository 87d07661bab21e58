"""What one load process is told to do: a JSON-serialisable ``LoadConfig``.

In: fields from the scenario's ``load`` section plus the target URL and the run's clock origin.
Out: ``LoadConfig`` (passed to the load process as JSON) and ``schedule_from_spec`` to build it.
No Locust import here: the orchestrator imports this module, and Locust monkey-patches on import.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.load.shapes import Segment, segments_for
from harness.scenario import LoadSpec


@dataclass(frozen=True)
class LoadConfig:
    """Everything the load process needs; times in seconds, run-relative unless named otherwise."""

    target_url: str
    out_dir: str
    t0_monotonic: float
    segments: tuple[Segment, ...]
    endpoint: str = "/v1/predict"
    max_concurrency: int = 256
    timeout_s: float = 10.0
    payload: dict[str, Any] = field(default_factory=lambda: {"inputs": [[0.0] * 8]})
    worker: str = "w0"
    flush_interval_s: float = 1.0
    part_rotate_s: float = 60.0

    @property
    def duration_s(self) -> float:
        return self.segments[-1].end_s if self.segments else 0.0

    def to_json(self) -> str:
        data = asdict(self)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> LoadConfig:
        data = json.loads(text)
        data["segments"] = tuple(Segment(**s) for s in data["segments"])
        return cls(**data)


def config_from_spec(spec: LoadSpec, target_url: str, out_dir: str, t0_monotonic: float) -> LoadConfig:
    """Build the load process's config from the scenario's load section."""
    return LoadConfig(
        target_url=target_url,
        out_dir=out_dir,
        t0_monotonic=t0_monotonic,
        segments=segments_for(spec),
        endpoint=spec.endpoint,
        max_concurrency=spec.max_concurrency,
        timeout_s=spec.timeout,
    )
