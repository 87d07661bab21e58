"""How one replica of the reference service is configured: ``ServiceConfig`` and the ways to build it.

In: the scenario's ``service`` section as JSON (``Scenario.service.model_dump(mode="json")``: durations
already in seconds; what the local platform passes with ``--config``), or ``kibench serve`` flags, plus the
environment (``KIBENCH_ADMIN_TOKEN`` turns the admin API on, ``KIBENCH_STATE_DIR`` keeps the slow-start fault
across restarts).  Out: a frozen ``ServiceConfig``.  Keys of the section this version does not know are
ignored (the scenario validated them); a bad profile raises ``ServiceConfigError`` (exit 2).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import ValidationError

from harness.scenario import ServiceSpec
from harness.service.profiles import ClassicProfile, LLMProfile, Profile, ServiceConfigError, resolve


@dataclass(frozen=True)
class ServiceConfig:
    """How one replica behaves; times in seconds unless the name says otherwise."""

    replica: str = "replica-0"
    device_time_ms: float = 50.0  # the batch-1 classic model used when ``profile`` is None
    cold_start_s: float = 0.0  # model-load phase (emulated); added to the real load for torch
    max_body_bytes: int = 1 << 20
    profile: ClassicProfile | LLMProfile | str | None = None
    backend: str = "emulated"  # or "torch"
    max_queue: int = 256
    request_timeout_s: float = 30.0
    admin_token: str | None = None  # admin API on when set
    state_dir: str | None = None  # where the slow-start fault is kept
    warmup: bool = True
    busy_window_s: float = 10.0  # window of the device busy fraction gauge

    def model(self) -> Profile:
        """The resolved device profile (raises ServiceConfigError for an unknown name).

        The torch backend takes its batching policy from the profile and fits the times at warm-up;
        without a profile it batches up to 32 rows' requests with a 2 ms queue delay."""
        if self.backend == "torch" and self.profile is None:
            return ClassicProfile(name="torch-mlp", base_ms=1.0, max_batch_size=32, max_queue_delay_ms=2.0,
                                  source="fitted at warm-up from the real model's batch times")  # fmt: skip
        return resolve(self.profile, self.device_time_ms)

    def with_env(self, env: Mapping[str, str]) -> ServiceConfig:
        """Take the admin token and state directory from the environment."""
        return replace(
            self,
            admin_token=env.get("KIBENCH_ADMIN_TOKEN") or self.admin_token,
            state_dir=env.get("KIBENCH_STATE_DIR") or self.state_dir,
        )


def config_from_section(section: dict[str, Any] | str, replica: str) -> ServiceConfig:
    """The scenario's service section (dict or JSON text) as one replica's config."""
    data = json.loads(section) if isinstance(section, str) else dict(section)
    known = {key: value for key, value in data.items() if key in ServiceSpec.model_fields}
    try:
        spec = ServiceSpec.model_validate(known)
    except ValidationError as exc:
        raise ServiceConfigError(f"--config: not a valid service section ({exc}); fix the scenario") from exc
    profile = spec.profile
    config = ServiceConfig(
        replica=replica,
        device_time_ms=spec.device_time_ms,
        cold_start_s=spec.cold_start,
        max_body_bytes=spec.max_body_bytes,
        profile=resolve(profile, spec.device_time_ms),
        backend=spec.backend,
        max_queue=spec.max_queue,
        request_timeout_s=spec.request_timeout,
    )
    check(config)
    return config


def config_from_flags(replica: str, profile: str | None, **fields: Any) -> ServiceConfig:
    """``kibench serve`` / ``python -m harness.service`` flags as a config (profile checked now)."""
    config = ServiceConfig(replica=replica, profile=profile, **fields)
    config = replace(config, profile=config.model())
    check(config)
    return config


def check(config: ServiceConfig) -> None:
    """Raise ServiceConfigError for a config no backend can run."""
    if config.backend not in ("emulated", "torch"):
        raise ServiceConfigError(f"backend {config.backend!r}: unknown; use 'emulated' or 'torch'")
    model = config.model()
    if config.backend == "torch" and isinstance(model, LLMProfile):
        raise ServiceConfigError("backend 'torch' serves a small classic model; drop the LLM profile or the backend")


__all__ = ["ServiceConfig", "ServiceConfigError", "check", "config_from_flags", "config_from_section"]
