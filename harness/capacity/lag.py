"""The autoscaler's lag: from a scale-up decision to the new replicas Ready, read from a run's timeline.

In: a run's events (``scale`` with ``from``/``to``; ``pod_created``/``pod_ready`` with ``startup_s``) and its
timeline (``t_s``, ``ready_replicas``) as plain lists/arrays.  Out: the lags in seconds (one per scale-up
that reached its target) and a replica's own start time (pod created -> Ready).  Pure functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def scale_up_lags(events: Sequence[dict[str, Any]], t_s: np.ndarray, ready: np.ndarray) -> list[float]:
    """For each scale-up decision at t (``to`` > ``from``): the first timeline sample at or after t with
    ``ready_replicas`` >= ``to``, minus t.  Decisions never reached are left out."""
    lags = []
    for e in events:
        if e.get("kind") != "scale" or "to" not in e or int(e["to"]) <= int(e.get("from", 0)):
            continue
        t0, to = float(e["t_s"]), int(e["to"])
        reached = np.flatnonzero((t_s >= t0) & (ready >= to))
        if reached.size:
            lags.append(float(t_s[reached[0]] - t0))
    return lags


def startup_s(events: Sequence[dict[str, Any]]) -> list[float]:
    """pod created -> Ready of every replica that became Ready (the ``pod_ready`` events' ``startup_s``)."""
    return [float(e["startup_s"]) for e in events if e.get("kind") == "pod_ready" and e.get("startup_s") is not None]
