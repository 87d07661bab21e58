"""What the local platform daemon is told to run: a JSON-serialisable spec.

In: the scenario's ``service`` and ``platform`` sections (as JSON) and the run's clock origin.
Out: ``DaemonSpec``, passed to the daemon process as JSON on its command line; ``settings()``
validates the platform section again (it crossed a process boundary) into ``PlatformSpec``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from harness.scenario import PlatformSpec, ServiceSpec


@dataclass(frozen=True)
class DaemonSpec:
    """Everything the daemon needs; times in seconds.

    ``command`` replaces the container's argv (the reference service by default); tests use it to
    run a container that crashes.  ``{port}`` and ``{replica}`` in it are filled in per pod.
    """

    replicas: int = 2
    service: dict[str, Any] = field(default_factory=dict)  # the scenario's service section, as JSON
    platform: dict[str, Any] = field(default_factory=dict)  # the scenario's platform section, as JSON
    t0_monotonic: float = 0.0  # the run's clock origin (CLOCK_MONOTONIC is shared by all processes)
    deployment: str = "kibench-svc"
    command: tuple[str, ...] | None = None

    def settings(self) -> PlatformSpec:
        return PlatformSpec.model_validate(self.platform)

    @property
    def termination_grace_s(self) -> float:
        return self.settings().pod.termination_grace_period

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> DaemonSpec:
        data = json.loads(text)
        if data.get("command") is not None:
            data["command"] = tuple(data["command"])
        return cls(**data)


def merged_service(current: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A rollout's new service section: ``patch`` over ``current``, validated (ValueError says why)."""
    merged = {**current, **patch}
    try:
        return ServiceSpec.model_validate(merged).model_dump(mode="json")
    except Exception as exc:  # pydantic's ValidationError, reported as a 422 by the API
        raise ValueError(f"service: {exc}".replace("\n", "; ")) from exc
