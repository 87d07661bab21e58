"""Load and validate a scenario's scheduled experiments before anything starts.

In: the scenario's ``faults`` list (``FaultSpec``: at, experiment, name, vars, ...) and the directory
relative paths start from (the working directory).  Out: a ``FaultPlan`` of ``PlannedFault``s, each
with the parsed experiment (chaoslib's loader), validated by chaoslib's own
``ensure_experiment_is_valid`` with the fault's ``vars`` applied, and a readable list of its actions
and rollbacks (``describe``, used by ``kibench run --dry-run``).  Any problem is a ``ScenarioError``
(exit 2) naming ``faults[i]``, the file and chaoslib's complaint.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoslib import substitute
from chaoslib.configuration import load_configuration
from chaoslib.exceptions import ChaosException
from chaoslib.experiment import ensure_experiment_is_valid
from chaoslib.loader import load_experiment

from harness.errors import ScenarioError
from harness.scenario import FaultSpec

HARNESS_KEYS = (
    "kibench_api_url",
    "kibench_kubeconfig",
    "kibench_namespace",
    "kibench_deployment",
    "kibench_live_stats",
    "kibench_run_dir",
    "kibench_admin_route",
)
"""Configuration keys the harness sets for every experiment it runs (they win over the file's)."""


@dataclass(frozen=True)
class PlannedFault:
    """One validated experiment and when it starts (``offset_s`` after the load starts)."""

    index: int
    name: str
    offset_s: float
    path: Path
    title: str
    vars: dict[str, Any] = field(compare=False)
    experiment: dict[str, Any] = field(compare=False, repr=False)
    actions: tuple[str, ...] = ()
    rollbacks: tuple[str, ...] = ()


@dataclass(frozen=True)
class FaultPlan:
    faults: tuple[PlannedFault, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.faults)


def plan_faults(faults: Sequence[FaultSpec], source: str, base_dir: Path | None = None) -> FaultPlan:
    """Every fault loaded and validated; raises ScenarioError on the first bad one."""
    base = base_dir or Path.cwd()
    planned: list[PlannedFault] = []
    seen: dict[str, int] = {}
    for index, spec in enumerate(faults):
        where = f"faults[{index}]"
        path = Path(spec.experiment) if Path(spec.experiment).is_absolute() else base / spec.experiment
        experiment = _load(path, spec.experiment, source, where, base)
        _check_vars(experiment, spec, source, where)
        merged = with_configuration(experiment, spec.vars)
        try:
            ensure_experiment_is_valid(copy.deepcopy(merged))
        except (ChaosException, ValueError, TypeError) as exc:
            problem = f"{spec.experiment}: not a valid experiment: {exc}"
            raise ScenarioError(source, f"{where}.experiment", problem) from exc
        stem = spec.name or path.stem
        seen[stem] = seen.get(stem, 0) + 1
        name = stem if seen[stem] == 1 else f"{stem}-{seen[stem]}"
        actions, rollbacks = describe(merged)
        planned.append(
            PlannedFault(
                index,
                name,
                float(spec.at),
                path,
                str(experiment.get("title", "")),
                dict(spec.vars),
                experiment,
                actions,
                rollbacks,
            )
        )
    return FaultPlan(tuple(planned))


#: Activities that need the embedded cluster's private API (a node that loses power has no Kubernetes verb).
EMBEDDED_ONLY = {("harness.chaos.kube", "fail_node"), ("harness.chaos.kube", "recover_node")}


def refuse_embedded_only(plan: FaultPlan, platform_kind: str, source: str, runner: str = "") -> None:
    """On ``platform.kind: kubernetes``, refuse a fault whose experiment loses a node hard (ScenarioError, exit 2):
    that needs the embedded cluster (``fail_node``) or, on a real cluster, the cloud provider's API.  ``runner``
    (e.g. ``kibench cluster run``) is named when it, too, runs on a cluster only."""
    if platform_kind != "kubernetes":
        return
    for fault in plan.faults:
        activities = [*(fault.experiment.get("method") or []), *(fault.experiment.get("rollbacks") or [])]
        for activity in activities:
            provider = activity.get("provider") or {}
            if (provider.get("module"), provider.get("func")) in EMBEDDED_ONLY:
                raise ScenarioError(
                    source,
                    f"faults[{fault.index}].experiment",
                    f"{fault.path.name}: {provider['func']} (hard node loss) runs on the embedded cluster only "
                    "(platform.kind: local): a real cluster has no API to cut a node's power"
                    + (f", and {runner} always runs on a cluster (use kibench run on the embedded cluster)"
                       if runner else "")  # fmt: skip
                    + ". On a cluster, drain "
                    "the node instead (chaos/node-drain.yaml, chaosk8s drain_nodes), or stop its machine through "
                    "your cloud's API (e.g. chaostoolkit-aws ec2 stop_instances, chaostoolkit-google-cloud-platform)",
                )


def _load(path: Path, given: str, source: str, where: str, base: Path) -> dict[str, Any]:
    try:
        is_file = path.is_file()
    except OSError as exc:  # e.g. a name too long for the file system
        raise ScenarioError(source, f"{where}.experiment", f"{given}: cannot be read ({exc.strerror})") from None
    if not is_file:
        raise ScenarioError(source, f"{where}.experiment", f"{given}: no such file (relative paths start at {base})")
    try:
        experiment = load_experiment(str(path))
    except (ChaosException, OSError, ValueError) as exc:
        raise ScenarioError(source, f"{where}.experiment", f"{given}: cannot be loaded: {exc}") from exc
    if not isinstance(experiment, dict):
        raise ScenarioError(source, f"{where}.experiment", f"{given}: must be a mapping (a Chaos Toolkit experiment)")
    return experiment


def _check_vars(experiment: dict[str, Any], spec: FaultSpec, source: str, where: str) -> None:
    declared = set((experiment.get("configuration") or {}).keys())
    for key in spec.vars:
        if key in HARNESS_KEYS:
            raise ScenarioError(source, f"{where}.vars.{key}", "is set by kibench for every run; remove it")
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ScenarioError(
                source, f"{where}.vars.{key}", f"not a configuration key of {spec.experiment} (it declares: {known})"
            )


def with_configuration(experiment: dict[str, Any], *layers: dict[str, Any]) -> dict[str, Any]:
    """A deep copy whose ``configuration`` has each layer's keys set (later layers win)."""
    out = copy.deepcopy(experiment)
    config = dict(out.get("configuration") or {})
    for layer in layers:
        config.update(copy.deepcopy(layer))
    if config:
        out["configuration"] = config
    return out


def describe(experiment: dict[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Readable method and rollback activities, with configuration substituted into their arguments."""
    try:
        config = load_configuration(dict(experiment.get("configuration") or {}))
    except ChaosException:
        config = {}
    config.update({key: f"<{key}>" for key in HARNESS_KEYS})  # known at run time only
    method = tuple(_activity_line(a, config) for a in experiment.get("method") or [])
    rollbacks = tuple(_activity_line(a, config) for a in experiment.get("rollbacks") or [])
    return method, rollbacks


def _activity_line(activity: dict[str, Any], config: dict[str, Any]) -> str:
    if "ref" in activity:
        return f"ref {activity['ref']}"
    provider = activity.get("provider") or {}
    kind = provider.get("type", "?")
    if kind == "python":
        args = substitute(provider.get("arguments") or {}, config, {})
        call = f"{provider.get('func')}({', '.join(f'{k}={v!r}' for k, v in args.items())})"
    elif kind == "http":
        call = f"http {provider.get('method', 'GET')} {substitute(provider.get('url', ''), config, {})}"
    else:
        call = f"process {provider.get('path')} {provider.get('arguments', '')}".rstrip()
    pauses = substitute(activity.get("pauses") or {}, config, {})
    extra = "".join(f", pause {k} {v}s" for k, v in pauses.items())
    return f"{activity.get('type', 'activity')} {activity.get('name')}: {call}{extra}"


def plan_lines(plan: FaultPlan, load_duration_s: float) -> list[str]:
    """What ``kibench run --dry-run`` prints: every fault, its time and what it will touch."""
    if not plan:
        return ["no faults planned"]
    lines = []
    for fault in sorted(plan.faults, key=lambda f: (f.offset_s, f.index)):
        lines.append(
            f"fault {fault.name}: at {fault.offset_s:g}s after the load starts (of {load_duration_s:g}s), "
            f"experiment {fault.path} ({fault.title})"
        )
        if fault.vars:
            lines.append(f"  vars: {', '.join(f'{k}={v!r}' for k, v in fault.vars.items())}")
        lines.extend(f"  method:   {line}" for line in fault.actions)
        lines.extend(f"  rollback: {line}" for line in fault.rollbacks)
    lines.append(
        "targets are picked at run time through the Kubernetes API of this run's own cluster (its kubeconfig), "
        "in its namespace; <kibench_...> values are set then"
    )
    return lines
