"""Value types every scenario section shares: durations, Kubernetes' int-or-percent, paths, the base model.

In: a value as written in the YAML (``'30s'``, ``'25%'``, a relative path).  Out: seconds as a float, an int or
a ``'25%'`` string, an absolute ``Path``; a ``ValueError`` saying the accepted forms, which pydantic turns into
the scenario error naming the field.  ``_Model`` is the frozen, closed (``extra="forbid"``) base of every model.

Durations are written as strings (``500ms``, ``30s``, ``5m``, ``1h``) or plain numbers of seconds.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

_DURATION = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>ms|s|m|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
#: Replicas and nodes: a measured run (``kibench run``, ``kibench capacity``) takes up to MEASURED_MAX_SCALE
#: (harness.run.refuse_over_measured_scale says so, exit 2); ``kibench simulate`` up to SIMULATED_MAX_SCALE.
MEASURED_MAX_SCALE = 64
SIMULATED_MAX_SCALE = 10_000


def parse_duration(value: Any) -> float:
    """``'30s'`` → 30.0 seconds; numbers are seconds.  Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("a duration is a string like '30s', '5m', '500ms' or a number of seconds")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(f"{value!r} is not a duration; write e.g. '500ms', '30s', '5m' or '1h'")
        seconds = float(match["num"]) * _UNIT_S[match["unit"]]
    if seconds < 0:
        raise ValueError(f"a duration must be >= 0 (got {value!r})")
    if not math.isfinite(seconds):
        raise ValueError(f"a duration must be a finite time (got {value!r})")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _int_or_percent(value: Any) -> int | str:
    """Kubernetes' IntOrString for budgets: ``2`` or ``'25%'``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"\d+%", value.strip()):
        return value.strip()
    raise ValueError(f"write a count >= 0 (e.g. 1) or a percentage (e.g. '25%') (got {value!r})")


IntOrPercent = Annotated[int | str, BeforeValidator(_int_or_percent)]


def _resolve_path(value: str) -> Path:
    """A relative path is relative to the working directory (like chaos experiment files); made absolute."""
    try:
        return Path(value).expanduser().resolve()
    except RuntimeError as exc:  # ~user of a user that does not exist
        raise ValueError(f"cannot resolve {value!r} ({exc})") from None
