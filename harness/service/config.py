"""Turn the scenario's ``service`` section (as JSON) into a replica's ``ServiceConfig``.

In: a JSON object (``Scenario.service.model_dump(mode="json")``: durations already in seconds) plus the
replica name.  Out: ``ServiceConfig``.  Unknown keys are ignored here: the scenario already validated them.
"""

from __future__ import annotations

import json
from typing import Any

from harness.service.app import ServiceConfig


def config_from_section(section: dict[str, Any] | str, replica: str) -> ServiceConfig:
    data = json.loads(section) if isinstance(section, str) else dict(section)
    return ServiceConfig(
        replica=replica,
        device_time_ms=float(data.get("device_time_ms", 50.0)),
        cold_start_s=float(data.get("cold_start", 0.0)),
    )
