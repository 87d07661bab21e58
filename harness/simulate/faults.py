"""The scenario's faults as the simulator plays them: pod kills and node losses at their times.

In: the scenario's ``faults`` (each experiment loaded and validated by ``harness.chaos.plan_faults``,
exactly as ``kibench run`` loads them).  Out: one ``SimFault`` per fault with the method's action
(``chaosk8s.pod.actions.terminate_pods``: ``qty`` pods, ``grace_period``; ``harness.chaos.kube.fail_node``:
``count`` nodes for ``duration`` s) and its configuration substituted.  Any other action in a method
is refused (``SimulationRefused``, exit 2): the simulator has no model of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.chaos import plan_faults
from harness.scenario import Scenario
from harness.simulate.refuse import SimulationRefused

_MODELLED = {
    ("chaosk8s.pod.actions", "terminate_pods"): "pod_kill",
    ("harness.chaos.kube", "fail_node"): "node_loss",
}
_VAR = re.compile(r"^\$\{([A-Za-z0-9_]+)\}$")


@dataclass(frozen=True)
class SimFault:
    index: int
    name: str
    at_s: float  # after load start
    experiment: str
    title: str
    kind: str  # pod_kill | node_loss
    func: str
    action: str
    qty: int
    grace_s: float
    duration_s: float | None


def _config_value(value: Any) -> Any:
    if isinstance(value, dict):  # {type: env, key: ..., default: ...}
        return value.get("default")
    return value


def _resolve(arg: Any, config: dict[str, Any]) -> Any:
    if isinstance(arg, str):
        match = _VAR.match(arg.strip())
        if match and match[1] in config:
            return _config_value(config[match[1]])
    return arg


def plan_sim_faults(scenario: Scenario, source: str) -> list[SimFault]:
    """Every fault of the scenario as a ``SimFault``; an action the simulator cannot model is refused."""
    plan = plan_faults(scenario.faults, source=source)
    out: list[SimFault] = []
    for fault in plan.faults:
        config = {**(fault.experiment.get("configuration") or {}), **fault.vars}
        actions = [a for a in fault.experiment.get("method") or [] if a.get("type") == "action"]
        found: list[SimFault] = []
        for action in actions:
            provider = action.get("provider") or {}
            key = (str(provider.get("module")), str(provider.get("func")))
            kind = _MODELLED.get(key)
            if kind is None:
                raise SimulationRefused(
                    source,
                    f"faults[{fault.index}].experiment",
                    f"{fault.path.name}: action {key[0]}.{key[1]} has no model (modelled: pod kill with "
                    "chaosk8s terminate_pods, node loss with harness.chaos.kube fail_node); use `kibench run`",
                )
            args = {k: _resolve(v, config) for k, v in (provider.get("arguments") or {}).items()}
            duration = args.get("duration")
            found.append(
                SimFault(
                    index=fault.index,
                    name=fault.name,
                    at_s=fault.offset_s,
                    experiment=str(fault.path),
                    title=fault.title,
                    kind=kind,
                    func=key[1],
                    action=str(action.get("name")),
                    qty=int(args.get("qty", args.get("count", 1)) or 1),
                    grace_s=float(args.get("grace_period", 0) or 0),
                    duration_s=None if duration is None else float(duration),
                )
            )
        if len(found) != 1:
            raise SimulationRefused(
                source,
                f"faults[{fault.index}].experiment",
                f"{Path(fault.path).name}: the simulator models an experiment with exactly one action "
                f"(found {len(found)}); use `kibench run`",
            )
        out.extend(found)
    return out
