"""What the simulator cannot model faithfully, refused before anything is written.

In: a validated ``Scenario``.  Out: nothing, or ``SimulationRefused`` (exit 2) naming the field, why the
simulator cannot stand in for the platform there, and what to do instead.  Faults are checked by
``harness.simulate.faults`` (only pod kills and node losses are modelled).
"""

from __future__ import annotations

from harness.errors import ScenarioError
from harness.platform.kubernetes.manifests import POD_GAUGES
from harness.scenario import LLMProfileSpec, Scenario
from harness.service.profiles import LLMProfile, resolve
from harness.simulate.hpa import SERIES


class SimulationRefused(ScenarioError):
    """The scenario asks for something the simulator would get wrong (exit 2)."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        super().__init__(source, field, f"cannot be simulated: {problem}")


def check_simulable(scenario: Scenario, source: str) -> None:
    """Raise ``SimulationRefused`` for the first part of the scenario the models do not cover."""
    if scenario.target is not None:
        raise SimulationRefused(
            source, "target.url", "an endpoint kibench does not deploy has no model; measure it with `kibench run`"
        )
    load = scenario.load
    if load.locustfile is not None:
        raise SimulationRefused(
            source, "load.locustfile", "your own locustfile's requests are unknown to the simulator; use `kibench run`"
        )
    if load.model == "closed":
        raise SimulationRefused(
            source, "load.model", "the closed model (looping users) is not modelled; give an open-model shape"
        )
    if scenario.service.backend != "emulated":
        raise SimulationRefused(
            source, "service.backend", "a real model has no device profile to simulate; use the emulated backend"
        )
    profile = scenario.service.profile
    is_llm = isinstance(profile, LLMProfileSpec) or (
        isinstance(profile, str) and isinstance(resolve(profile, scenario.service.device_time_ms), LLMProfile)
    )
    if load.workload.kind == "completions" and not is_llm:
        raise SimulationRefused(
            source,
            "load.workload",
            "streamed completions without an LLM profile have no token timings to model; set service.profile",
        )
    hpa = scenario.platform.hpa
    for i, metric in enumerate(hpa.metrics if hpa.enabled else []):
        series = metric.prometheus or POD_GAUGES.get(metric.name, metric.name)
        if metric.type == "Pods" and series not in SERIES:
            raise SimulationRefused(
                source,
                f"platform.hpa.metrics[{i}]",
                f"the gauge {series!r} has no model (modelled: {', '.join(sorted(SERIES.values()))}); "
                "use `kibench run`",
            )
    if is_llm and load.workload.kind != "completions":
        raise SimulationRefused(
            source, "load.workload", "an LLM profile serves completions; set load.workload.kind: completions"
        )
