"""What a pod's spec tells the embedded kubelet: its probes, its termination grace period, its ports.

In: Pod objects (and their containers) as stored.  Out: ``probe_spec`` (a ``ProbeSpec`` per probe, with the
exact, possibly sub-second, timings of the template annotation ``kibench.io/timing`` when present, since
Kubernetes counts probe and grace periods in whole seconds), ``grace_s`` and ``port_of``.
"""

from __future__ import annotations

import json
from typing import Any

from harness.platform.kubernetes.manifests import TIMING_ANNOTATION
from harness.platform.local.objects import Obj
from harness.scenario import ProbeSpec


def probe_spec(container: Obj, kind: str, timing: Obj) -> ProbeSpec | None:
    """The container's ``<kind>Probe`` with the annotation's exact (sub-second) timings; None when it has none."""
    probe = container.get(f"{kind}Probe")
    if not probe:
        return None
    exact = (timing.get("probes") or {}).get(kind) or {}
    return ProbeSpec(
        initial_delay=exact.get("initial_delay_s", probe.get("initialDelaySeconds", 0)),
        period=exact.get("period_s", probe.get("periodSeconds", 10)),
        timeout=exact.get("timeout_s", probe.get("timeoutSeconds", 1)),
        failure_threshold=probe.get("failureThreshold", 3),
        success_threshold=probe.get("successThreshold", 1),
    )


def timing(pod: Obj) -> Obj:
    """The exact timings of the annotation ``kibench.io/timing`` (``{}`` when absent or unreadable)."""
    try:
        return dict(json.loads((pod["metadata"].get("annotations") or {}).get(TIMING_ANNOTATION, "{}")))
    except (ValueError, TypeError):
        return {}


def grace_s(pod: Obj) -> float:
    """The termination grace period: the DELETE's, else the pod's (exact when the annotation has it)."""
    spec_grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
    asked = pod["metadata"].get("deletionGracePeriodSeconds")
    if asked is not None and asked != spec_grace:
        return float(asked)
    return float(timing(pod).get("termination_grace_period_s", spec_grace))


def port_of(container: Obj, value: Any) -> int:
    """A probe's ``port``: a number, or the name of one of the container's ports."""
    if isinstance(value, int):
        return value
    for port in container.get("ports") or []:
        if port.get("name") == value:
            return int(port["containerPort"])
    return int(value)
