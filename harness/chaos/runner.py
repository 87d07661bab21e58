"""Run one planned experiment through chaoslib on the calling (non-main) thread.

In: a ``PlannedFault``, the ``ChaosContext`` (run folder, event callback, run clock, the harness's
configuration keys) and the experiment's ``RunToken``.  Out: ``<run>/chaos/<name>.journal.json``
(chaoslib's journal), events through ``context.log`` (chaos_start, one chaos_action per probe or
action with name/phase/start_s/end_s/status/targets, chaos_end with status and deviated) and a
``FaultOutcome``.

chaoslib's ``Runner.run`` installs signal handlers, which only the main thread may do, so
``_ThreadRunner`` calls its ``_run`` directly; the run's SIGINT/SIGTERM belong to the orchestrator,
which interrupts experiments through ``interrupt`` instead.  Rollbacks always run: the runtime
rollback strategy is ``always`` (also after a failed hypothesis or an interruption).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.caching import cache_activities
from chaoslib.run import RunEventHandler, Runner
from chaoslib.types import Strategy

from harness.chaos import interrupt
from harness.chaos.live import LIVE_FILE
from harness.chaos.plan import PlannedFault, with_configuration

log = logging.getLogger("chaostoolkit")
SETTINGS: dict[str, Any] = {"runtime": {"rollbacks": {"strategy": "always"}}}

EventLog = Callable[..., None]
"""``log(kind, at_s=None, **attrs)``: the orchestrator's event sink (``Observer.log``)."""


@dataclass(frozen=True)
class ChaosContext:
    """What experiments need from the run, passed in by the orchestrator."""

    run_dir: Path
    log: EventLog
    now_s: Callable[[], float]
    configuration: dict[str, Any]  # the HARNESS_KEYS: API URL, kubeconfig, namespace, Deployment, live stats, folder

    @property
    def chaos_dir(self) -> Path:
        return self.run_dir / "chaos"


def chaos_context(run_dir: Path, platform: dict[str, Any], log: EventLog, now_s: Callable[[], float]) -> ChaosContext:
    """The context for a run folder: experiments get the platform's API, namespace and Deployment, the live
    traffic file and the folder."""
    configuration = {
        "kibench_api_url": str(platform.get("api_url") or ""),
        # in a pod (kibench cluster run), a kubeconfig naming the pod's service account (the driver writes it)
        "kibench_kubeconfig": str(platform.get("chaos_kubeconfig") or platform.get("kubeconfig") or ""),
        "kibench_namespace": str(platform.get("namespace") or "default"),
        "kibench_deployment": str(platform.get("deployment") or ""),
        "kibench_live_stats": str(run_dir / "chaos" / LIVE_FILE),
        "kibench_run_dir": str(run_dir),
        # how the admin faults reach a pod: through a port-forward when the load needed one too, else by its IP
        # when that is a loopback address (the embedded cluster), else through a port-forward (admin.py)
        "kibench_admin_route": "port-forward" if platform.get("route") == "port-forward" else "auto",
    }
    return ChaosContext(run_dir, log, now_s, configuration)


@dataclass(frozen=True)
class FaultOutcome:
    name: str
    status: str
    deviated: bool
    journal_path: Path | None
    error: str | None = None


class _ThreadRunner(Runner):
    """chaoslib's Runner without its signal handlers (they need the main thread)."""

    def run(self, experiment: Any, settings: Any = None, experiment_vars: Any = None, journal: Any = None) -> Any:
        self.configure(experiment, settings, experiment_vars)
        return self._run(
            self.strategy,
            self.schedule,
            experiment,
            journal,
            self.config,
            self.secrets,
            self.settings,
            self.event_registry,
        )


class _EventBridge(RunEventHandler):
    """Turns chaoslib's run events into harness events (chaoslib swallows handler errors: log them)."""

    def __init__(self, fault: PlannedFault, context: ChaosContext) -> None:
        self.fault = fault
        self.context = context
        self.phase = "setup"
        self.journal: dict[str, Any] | None = None
        self._starts: dict[tuple[int, int], float] = {}
        self._lock = threading.Lock()

    def started(self, experiment: Any, journal: Any) -> None:
        self.journal = journal

    def start_hypothesis_before(self, experiment: Any) -> None:
        self.phase = "hypothesis_before"

    def start_method(self, experiment: Any) -> None:
        self.phase = "method"

    def start_hypothesis_after(self, experiment: Any) -> None:
        self.phase = "hypothesis_after"

    def start_rollbacks(self, experiment: Any) -> None:
        self.phase = "rollback"

    def start_activity(self, activity: Any) -> None:
        with self._lock:
            self._starts[(id(activity), threading.get_ident())] = self.context.now_s()

    def activity_completed(self, activity: Any, run: Any) -> None:
        try:
            self._emit_action(activity, run)
        except Exception:  # noqa: BLE001 - never let a bookkeeping bug stop an experiment
            log.warning("kibench: could not record activity %r", activity.get("name"), exc_info=True)

    def _emit_action(self, activity: dict[str, Any], run: dict[str, Any]) -> None:
        end = self.context.now_s()
        with self._lock:
            start = self._starts.pop((id(activity), threading.get_ident()), end)
        provider = activity.get("provider") or {}
        attrs: dict[str, Any] = {
            "fault": self.fault.name,
            "name": activity.get("name"),
            "activity": activity.get("type"),
            "func": provider.get("func") or provider.get("type"),
            "phase": self.phase,
            "start_s": round(start, 6),
            "end_s": round(end, 6),
            "status": run.get("status"),
        }
        output = run.get("output")
        if isinstance(output, dict):
            attrs.update({k: output[k] for k in ("pods", "nodes") if isinstance(output.get(k), list)})
        elif isinstance(output, list) and output and all(isinstance(x, str) for x in output):
            attrs[_target_kind(attrs["func"])] = list(output)  # chaosk8s actions return the names they touched
        elif isinstance(output, bool | int | float | str):
            attrs["output"] = output
        if run.get("exception"):
            attrs["error"] = str(run["exception"][-1]).strip()[:300]
        self.context.log("chaos_action", at_s=start, **attrs)


def _target_kind(func: Any) -> str:
    """What a list of names returned by ``func`` names: chaosk8s's node actions return nodes, pod actions pods."""
    return "nodes" if "node" in str(func) else "pods"


def use_kubeconfig(path: str | None) -> Callable[[], None]:
    """Point in-process chaosk8s at ``path``; returns the undo.

    chaosk8s checks ``$KUBECONFIG`` on every call but then loads the ``kubernetes`` package's default
    location, which that package read from ``$KUBECONFIG`` once, at import (before the run's cluster
    existed): both must name the run's kubeconfig."""
    if not path:
        return lambda: None
    from kubernetes.config import kube_config

    saved_env, saved_default = os.environ.get("KUBECONFIG"), kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    os.environ["KUBECONFIG"] = path
    kube_config.KUBE_CONFIG_DEFAULT_LOCATION = path

    def undo() -> None:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = saved_default
        if saved_env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = saved_env

    return undo


def prepared(fault: PlannedFault, context: ChaosContext) -> dict[str, Any]:
    """The experiment as it runs: vars, then the harness's keys, and the interrupt control."""
    experiment = with_configuration(fault.experiment, fault.vars, context.configuration)
    experiment["controls"] = [*(experiment.get("controls") or []), dict(interrupt.CONTROL)]
    return experiment


def run_fault(
    fault: PlannedFault, context: ChaosContext, token: interrupt.RunToken, scheduled_s: float
) -> FaultOutcome:
    """Run the experiment to the end (rollbacks included), record it, never raise."""
    interrupt.install_pause_shim()
    bridge = _EventBridge(fault, context)
    runner = _ThreadRunner(Strategy.DEFAULT)
    runner.register_event_handler(bridge)
    start = context.now_s()
    context.log(
        "chaos_start",
        at_s=start,
        fault=fault.name,
        index=fault.index,
        experiment=str(fault.path),
        title=fault.title,
        scheduled_s=round(scheduled_s, 6),
        lateness_s=round(start - scheduled_s, 6),
    )
    journal: dict[str, Any] | None = None
    error: str | None = None
    interrupt.bind(token)
    try:
        experiment = prepared(fault, context)
        cache_activities(experiment)  # for `ref` activities; chaoslib's run_experiment does the same
        journal = runner.run(experiment, settings=SETTINGS)
    except Exception as exc:  # noqa: BLE001 - chaoslib failed outright; the run itself goes on
        log.error("kibench: experiment %s failed to run", fault.name, exc_info=True)
        error = f"{type(exc).__name__}: {exc}"
        journal = bridge.journal
    finally:
        interrupt.bind(None)
    return _finish(fault, context, journal, error, start)


def _finish(
    fault: PlannedFault, context: ChaosContext, journal: dict[str, Any] | None, error: str | None, start_s: float
) -> FaultOutcome:
    status = "error" if error else str((journal or {}).get("status") or "unknown")
    deviated = bool((journal or {}).get("deviated", False))
    path: Path | None = None
    if journal is not None:
        path = write_journal(context.chaos_dir, fault.name, journal)
    rollbacks = (journal or {}).get("rollbacks") or []
    states = (journal or {}).get("steady_states") or {}
    end = context.now_s()
    context.log(
        "chaos_end",
        at_s=end,
        fault=fault.name,
        index=fault.index,
        status=status,
        deviated=deviated,
        duration_s=round(end - start_s, 6),
        journal=None if path is None else str(path.relative_to(context.run_dir)),
        rollbacks=len(rollbacks),
        rollbacks_failed=sum(1 for r in rollbacks if r.get("status") != "succeeded"),
        steady_state_before=_met(states.get("before")),  # False: chaoslib skipped the method (no fault)
        steady_state_after=_met(states.get("after")),
        **({"error": error} if error else {}),
    )
    return FaultOutcome(fault.name, status, deviated, path, error)


def _met(state: Any) -> bool | None:
    return None if not isinstance(state, dict) else bool(state.get("steady_state_met"))


def write_journal(chaos_dir: Path, name: str, journal: dict[str, Any]) -> Path:
    chaos_dir.mkdir(parents=True, exist_ok=True)
    path = chaos_dir / f"{name}.journal.json"
    path.write_text(json.dumps(journal, indent=2, default=str) + "\n", encoding="utf-8")
    return path
