"""Orchestrate one run: the only module that knows the pipeline's order.

In: a validated ``Scenario`` and a results folder.  Out: ``results/<run-id>/`` (docs/architecture.md's run
folder) and a ``RunOutcome`` with the exit code: 0 SLOs met, 1 an SLO failed, 3 platform/load
failure, 4 a self-check failed (the measurement is not trustworthy), 130 interrupted.

Order: load and validate the fault experiments (exit 2, no run folder) → write scenario.yaml + run.json → start a
spare load process (its imports overlap the deploy) → deploy the platform (``platform.kind: kubernetes``: in the
run's own namespace on your cluster, see harness/platform/kubernetes/cluster.py) → start the observer (timeline,
events) → hand the load process its config and show progress; each fault's experiment starts at its time after
load_start (harness.chaos) → stop load, chaos (running experiments are interrupted, their rollbacks run), observer,
platform (always: each stop is registered on a ``contextlib.ExitStack`` when its stage starts, so it runs, in
reverse order, whatever failed) → analysis (summary.json) → report. SIGINT/SIGTERM interrupt any step before
clean-up; clean-up itself cannot be interrupted (a platform clean-up cut short is finished once more), and whatever was
recorded is analysed and reported.  ``Stages`` says how each stage is made (tests give fakes).  ``keep``
(``kibench run --keep``) leaves what the run made on a cluster in place.
"""

from __future__ import annotations

import dataclasses
import os
import platform as pyplatform
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.analysis import analyze
from harness.chaos import ChaosRun, FaultPlan, chaos_context, plan_faults, refuse_embedded_only
from harness.errors import (
    EXIT_BAD_INPUT,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PLATFORM,
    EXIT_SELF_CHECK,
    EXIT_SLO_FAILED,
    HarnessError,
    Interrupted,
    LoadError,
    PlatformError,
    ScenarioError,
)
from harness.load.config import config_from_spec, master_host
from harness.load.launcher import LoadProcess, Spare, spare_process
from harness.load.shapes import phase_windows, segments_for
from harness.model import SCHEMA_VERSION, Platform, RunFiles
from harness.observe import Observer
from harness.platform import create_platform
from harness.procs import defer_signal, stop_recorded
from harness.progress import Progress
from harness.report import build_report
from harness.runio import write_atomic, write_json
from harness.scenario import MEASURED_MAX_SCALE, SIMULATED_MAX_SCALE, LoadSpec, Scenario, dump

#: A run whose platform has not answered this many samples (one a second) in a row ends with exit 3.
PLATFORM_FAILED_SAMPLES = 5

_PACKAGES = ("kibench", "locust", "chaostoolkit", "chaostoolkit-lib", "kubernetes", "pandas", "pyarrow")


@dataclass(frozen=True)
class RunOutcome:
    run_dir: Path
    exit_code: int
    summary: dict[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class Stages:
    """How a run makes each stage; the defaults are the real ones (tests swap in fakes without processes)."""

    platform: Callable[..., Platform] = create_platform
    observer: Callable[[Platform, RunFiles, float], Observer] = Observer
    load: Callable[..., LoadProcess] = LoadProcess
    spare_load: Callable[[LoadSpec, str], Spare | None] = spare_process  # imports while the platform deploys
    chaos: Callable[..., ChaosRun] = ChaosRun
    report: Callable[[Path], Any] = build_report


def environment() -> dict[str, str]:
    """Versions and machine facts recorded in every run (summary.json ``environment``)."""
    env = {"python": pyplatform.python_version(), "os": pyplatform.platform(), "machine": pyplatform.machine()}
    for name in _PACKAGES:
        try:
            env[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            env[name] = "not installed"
    return env


def new_run_id(scenario: Scenario, started: datetime) -> str:
    return f"{started:%Y%m%d-%H%M%S}-{scenario.name}-{secrets.token_hex(2)}"


def refuse_over_measured_scale(scenario: Scenario, source: str) -> None:
    """A measured run takes at most ``MEASURED_MAX_SCALE`` replicas and nodes (the scenario file allows more
    for ``kibench simulate``): ``ScenarioError`` (exit 2) naming the first field over it and the fix."""
    platform = scenario.platform
    fields = [("service.replicas", scenario.service.replicas), ("platform.nodes.count", platform.nodes.count)]
    if platform.hpa.enabled:
        fields += [("platform.hpa.min_replicas", platform.hpa.min_replicas),
                   ("platform.hpa.max_replicas", platform.hpa.max_replicas)]  # fmt: skip
    if platform.nodes.autoscaler.enabled:
        fields += [("platform.nodes.autoscaler.min_nodes", platform.nodes.autoscaler.min_nodes),
                   ("platform.nodes.autoscaler.max_nodes", platform.nodes.autoscaler.max_nodes)]  # fmt: skip
    for field, value in fields:
        if value > MEASURED_MAX_SCALE:
            raise ScenarioError(
                source,
                field,
                f"{value} is over {MEASURED_MAX_SCALE}, the most a measured run takes; lower it to "
                f"{MEASURED_MAX_SCALE} or fewer, or play it on the simulator (`kibench simulate`, up to "
                f"{SIMULATED_MAX_SCALE:,})",
            )


class _Signals:
    """SIGINT/SIGTERM raise ``Interrupted`` once, except while clean-up runs."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.shielded = False
        self._old: dict[int, Any] = {}

    def shield(self) -> None:
        """From now on a signal is only noted: clean-up runs to its end."""
        self.shielded = True

    def _handle(self, signum: int, frame: Any) -> None:
        if defer_signal(signum):  # a process is being started: sent again once it is
            return
        first = self.received is None
        self.received = signum
        if first and not self.shielded:
            raise Interrupted(f"interrupted by {signal.Signals(signum).name}; partial results were kept")

    @contextmanager
    def installed(self) -> Iterator[_Signals]:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old[sig] = signal.signal(sig, self._handle)
        try:
            yield self
        finally:
            for sig, old in self._old.items():
                signal.signal(sig, old)


def run_scenario(
    scenario: Scenario,
    results_dir: str | Path,
    console: Console | None = None,
    keep: bool = False,
    stages: Stages | None = None,
) -> RunOutcome:
    """Run the scenario end to end; never leaves a process behind (nor, unless ``keep``, an object on a cluster)."""
    console = console or Console(stderr=False)
    stages = stages or Stages()
    refuse_over_measured_scale(scenario, f"scenario {scenario.name!r}")  # exit 2, no run
    plan = plan_faults(scenario.faults, source=f"scenario {scenario.name!r}")  # bad experiment: exit 2, no run
    refuse_embedded_only(plan, scenario.platform.kind, f"scenario {scenario.name!r}")  # node loss on a cluster
    master_host(scenario.load)  # placement: cluster outside kibench cluster run's pod: refused before anything starts
    t0 = time.monotonic()
    started = datetime.now(UTC)
    run_id = new_run_id(scenario, started)
    files = RunFiles(Path(results_dir) / run_id)
    # Reads local files only; a kubeconfig without the scenario's context is refused here (exit 2, no run folder).
    platform = stages.platform(scenario, t0_monotonic=t0, log_dir=str(files.logs), run_id=run_id, keep=keep)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "scenario": scenario.name,
        "platform": "external" if scenario.target else scenario.platform.kind,
        "started_at": started.isoformat(timespec="seconds"),
        "t0_monotonic": t0,
        "environment": environment(),
        "complete": False,
    }
    signals = _Signals()
    with signals.installed():  # from here on SIGINT/SIGTERM end the run with 130, its folder reportable
        try:
            files.root.mkdir(parents=True, exist_ok=False)
            files.logs.mkdir()
            write_atomic(files.scenario, dump(scenario))
        except Interrupted as exc:
            return RunOutcome(files.root, exc.exit_code, None, str(exc))  # nothing was started
        return _run(scenario, platform, files, meta, t0, console, plan, signals, stages)


def _run(
    scenario: Scenario,
    platform: Platform,
    files: RunFiles,
    meta: dict[str, Any],
    t0: float,
    console: Console,
    plan: FaultPlan,
    signals: _Signals,
    stages: Stages,
) -> RunOutcome:
    error: HarnessError | None = None
    saved_env = {name: os.environ.get(name) for name in _CLUSTER_ENV}
    try:
        _write_meta(files, meta)
        console.print(f"run {meta['run_id']}: deploying on the {meta['platform']} platform", highlight=False)
        _execute(scenario, platform, files, t0, console, plan, signals.shield, stages)
    except HarnessError as exc:
        error = exc
    finally:
        signals.shield()
        for name, value in saved_env.items():
            _restore_env(name, value)
    try:  # idempotent: finishes a clean-up that a signal cut short (before the shield went up)
        platform.teardown()
    except HarnessError as exc:
        error = error or exc
    for left in stop_recorded(files.logs):  # a process whose start a signal cut short: stopped by its record
        console.print(f"stopped a process the run had left: {left.role} (pid {left.pid})", highlight=False)
    if signals.received is not None and not isinstance(error, Interrupted):
        error = Interrupted(f"interrupted by {signal.Signals(signals.received).name}; partial results were kept")
    meta["complete"] = error is None
    meta["error"] = None if error is None else str(error)
    _write_meta(files, meta)
    summary, code = _analyze_and_report(files, console, stages.report)
    if error is None and signals.received is not None:  # during analysis: the run is complete, still 130
        name = signal.Signals(signals.received).name
        error = Interrupted(f"interrupted by {name} after the run ended; its results were analysed and kept")
    if error is not None:
        return RunOutcome(files.root, error.exit_code, summary, str(error))
    return RunOutcome(files.root, code, summary)


def _execute(
    scenario: Scenario,
    platform: Platform,
    files: RunFiles,
    t0: float,
    console: Console,
    plan: FaultPlan,
    shield: Callable[[], None],
    stages: Stages,
) -> None:
    # Each stage registers its stop when it starts; the stack runs them in reverse, each even when the one
    # before failed, so no process of the run is left: stop sending, run the rollbacks, record the last
    # state, stop the platform.  The shield goes up first: clean-up cannot be interrupted.
    with ExitStack() as stops:
        stops.callback(platform.teardown)  # before deploy: a deploy that fails half-way has started things
        try:
            _stages(scenario, platform, files, t0, console, plan, stops, stages)
        finally:
            shield()


def _stages(
    scenario: Scenario,
    platform: Platform,
    files: RunFiles,
    t0: float,
    console: Console,
    plan: FaultPlan,
    stops: ExitStack,
    stages: Stages,
) -> None:
    spare = stages.spare_load(scenario.load, str(files.logs / "load.log"))
    if spare is not None:
        stops.callback(spare.stop)  # unused when the deploy fails
    deployment = platform.deploy()
    observer = stages.observer(platform, files, t0)
    stops.callback(observer.stop)
    observer.start()
    kept = ("context", "namespace", "route", "route_warning")
    where = {k: deployment.details[k] for k in kept if k in deployment.details}
    observer.log("deployed", target_url=deployment.target_url, platform=deployment.platform_kind,
                 **(where if deployment.platform_kind == "kubernetes" else {}))  # fmt: skip
    kubeconfig = deployment.details.get("kubeconfig")
    if kubeconfig:  # chaosk8s (in-process) and kubectl find the run's cluster through it
        os.environ["KUBECONFIG"] = str(kubeconfig)
        if deployment.details.get("context"):  # chaosk8s and harness.chaos.kube honour it
            os.environ["KUBERNETES_CONTEXT"] = str(deployment.details["context"])
        console.print(f"watch it: {kubectl_prefix(deployment.details)} get pods -w", highlight=False)
    if deployment.platform_kind == "kubernetes":
        console.print(_cluster_line(deployment.details), highlight=False)
    config = config_from_spec(scenario.load, deployment.target_url, str(files.root), t0, scenario.target)
    cap = deployment.details.get("max_connections")  # a port-forward: each connection costs a tunnel of its own
    if cap and config.max_concurrency > int(cap):
        config = dataclasses.replace(config, max_concurrency=int(cap))
    chaos: ChaosRun | None = None
    if plan:  # experiments start at their times after load_start (see load_events)
        chaos = stages.chaos(plan, chaos_context(files.root, deployment.details, observer.log, observer.now_s))
        stops.callback(chaos.stop)  # interrupts running experiments and waits for their rollbacks
    load = stages.load(config, str(files.logs / "load.log"), load_events(observer, scenario.load, chaos), spare)
    stops.callback(load.stop)  # before start: a start that fails half-way has started processes
    load.start()
    console.print(f"load: {scenario.load.duration_s:g}s against {deployment.target_url}", highlight=False)
    with Progress(console, f"kibench {scenario.name}") as progress:
        while load.poll() is None:
            progress.update(load.latest, observer.last_state)
            if observer.failed_samples >= PLATFORM_FAILED_SAMPLES:
                raise PlatformError(
                    f"the {deployment.platform_kind} platform stopped answering "
                    f"({observer.failed_samples} samples in a row); see {files.logs}"
                )
            time.sleep(0.25)
    code = load.wait(timeout_s=5)
    if code not in (0, None):
        raise LoadError(f"the load process exited with code {code}; see {files.logs / 'load.log'}")


def load_events(observer: Observer, load_spec: LoadSpec, chaos: ChaosRun | None = None) -> Any:
    """The load process's lines as the run's events (load_start, load_phase, dropped_arrivals, load_end); with
    ``chaos``, its experiments start on load_start and see the traffic (also ``kibench capacity``'s probes)."""
    segments = segments_for(load_spec)
    dropped = [0]  # the load's cumulative dropped arrivals, logged when it grows (per-second plot, per phase)

    def on_line(msg: dict[str, Any]) -> None:
        kind = msg.get("event")
        if kind == "load_start":
            start = float(msg["t_s"])
            remote = {k: msg[k] for k in ("workers", "clock_error_bound_ms") if k in msg}  # workers in a cluster
            observer.log("load_start", at_s=start, duration_s=msg.get("duration_s"), **remote)
            if chaos is not None:
                chaos.start(load_start_s=start)
            for seg in phase_windows(segments):
                observer.log(
                    "load_phase",
                    phase=seg.phase,
                    start_s=round(start + seg.start_s, 6),
                    end_s=round(start + seg.end_s, 6),
                    start_rps=seg.start_rps,
                    end_rps=seg.end_rps,
                )
        elif kind == "progress":
            if int(msg.get("dropped") or 0) > dropped[0]:
                dropped[0] = int(msg["dropped"])
                observer.log("dropped_arrivals", at_s=float(msg["t_s"]), dropped=dropped[0])
            if chaos is not None:
                p95_ms = msg.get("p95_10s_ms")
                errors = int(msg.get("errors") or 0)
                chaos.record_traffic(float(msg["t_s"]), int(msg.get("requests") or 0), errors, p95_ms)
        elif kind == "load_end":
            observer.log("load_end", at_s=float(msg["t_s"]), requests=msg.get("requests"), dropped=msg.get("dropped"))

    return on_line


def _analyze_and_report(
    files: RunFiles, console: Console, report: Callable[[Path], Any] = build_report
) -> tuple[dict[str, Any] | None, int]:
    try:
        summary, code = analyze(files.root)
        report(files.root)
    except HarnessError as exc:
        console.print(f"analysis failed: {exc}", highlight=False)
        return None, exc.exit_code
    return summary, code


_CLUSTER_ENV = ("KUBECONFIG", "KUBERNETES_CONTEXT")


def kubectl_prefix(details: dict[str, Any], namespace: bool = True) -> str:
    """``kubectl --kubeconfig K [--context C] [-n NS]`` for the run's cluster (and namespace).

    A kubeconfig of several files (``$KUBECONFIG`` with ``:``) goes in the environment: ``--kubeconfig`` takes one."""
    kubeconfig = str(details["kubeconfig"])
    parts = (
        [f"KUBECONFIG={kubeconfig}", "kubectl"] if os.pathsep in kubeconfig else ["kubectl", "--kubeconfig", kubeconfig]
    )
    if details.get("context"):
        parts += ["--context", str(details["context"])]
    if namespace and details.get("namespace") not in (None, "", "default"):
        parts += ["-n", str(details["namespace"])]
    return " ".join(parts)


def _cluster_line(details: dict[str, Any]) -> str:
    """Where the run works on a cluster and what happens to it at the end."""
    ns, label = details.get("namespace"), details.get("run_label")
    if details.get("keep"):
        fate = "kept after the run (--keep): delete it with " + (
            f"{kubectl_prefix(details, namespace=False)} delete namespace {ns}"
            if details.get("own_namespace")
            else f"{kubectl_prefix(details)} delete all,secret,hpa,pdb -l {label}"
        )
    elif details.get("own_namespace"):
        fate = "the run's own namespace, deleted at the end (--keep keeps it)"
    else:
        fate = f"objects labelled {label}, deleted at the end (--keep keeps them)"
    return f"namespace {ns} on context {details.get('context')}: {fate}"


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _write_meta(files: RunFiles, meta: dict[str, Any]) -> None:
    write_json(files.run_meta, meta)


def exit_code_name(code: int) -> str:
    names = {
        EXIT_OK: "pass",
        EXIT_SLO_FAILED: "SLO failed",
        EXIT_BAD_INPUT: "bad input",
        EXIT_PLATFORM: "platform error",
        EXIT_SELF_CHECK: "self-check failed",
        EXIT_INTERRUPTED: "interrupted",
    }
    return names.get(code, f"exit {code}")


__all__ = ["RunOutcome", "Stages", "environment", "exit_code_name", "run_scenario"]
