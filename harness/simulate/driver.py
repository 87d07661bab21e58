"""Play one scenario on the simulator and write its run folder; then analyse and report it.

In: a validated ``Scenario`` (``source`` names its file in errors), a results folder and ``SimOptions``.
Out: ``results/<run-id>/`` (run.json ``platform: simulated`` with a ``simulation`` block: mode, model
constants, wall time) analysed by ``harness.analysis`` and reported by ``harness.report`` as a measured
run is, and a ``SimOutcome``.  ``mode`` ``auto`` picks the discrete-event mode up to
``DES_MAX_REQUESTS`` requests and the fluid mode beyond (docs/simulate.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.analysis import analyze
from harness.errors import InputError
from harness.load.shapes import requested_arrivals, segments_for
from harness.model import SCHEMA_VERSION, RunFiles
from harness.report import build_report
from harness.run import environment, new_run_id
from harness.runio import write_atomic, write_json
from harness.scenario import CompletionsWorkload, Scenario, dump
from harness.service.profiles import LLMProfile, resolve
from harness.simulate.calibrate import Calibration
from harness.simulate.cluster import Cluster
from harness.simulate.cluster_state import ClusterOptions
from harness.simulate.curve import LatencyCurve
from harness.simulate.des import DesEngine
from harness.simulate.faults import plan_sim_faults
from harness.simulate.fluid import FluidEngine
from harness.simulate.llm import LlmEngine
from harness.simulate.output import RowWriter, write_events, write_load_stats, write_timeline
from harness.simulate.refuse import check_simulable
from harness.simulate.service import EMBEDDED_OVERHEAD_MS, overhead_samples, service_model

Mode = Literal["auto", "des", "fluid"]
#: ``auto`` runs the discrete-event mode up to this many requests, the fluid mode beyond.
DES_MAX_REQUESTS = 2_000_000


@dataclass(frozen=True)
class SimOptions:
    """The simulator's own constants (measured on the embedded platform; docs/simulate.md)."""

    mode: Mode = "auto"
    seed: int | None = None  # default: the scenario's load.seed
    overhead_ms: float | None = None  # HTTP path outside the device (balancer, server, client); None: the
    # distribution measured on the embedded platform (service.EMBEDDED_OVERHEAD_MS), a number: that constant
    # container start -> the service answers HTTP, for pods started under load (replacements, scale-ups): the
    # median of 7 measured on 2 December 2026 (0.20-0.88 s; calibrate.py's method on spike, pod-kill-under-load)
    process_start_s: float = 0.65
    process_start_jitter: float = 0.3  # uniform +/- this share
    deploy_s: float = 1.25  # run start -> the cluster's controllers run and the Deployment's pods exist
    load_start_delay_s: float = 1.15  # deployed -> the load's first request (the load process starting)
    cpu_idle_cores: float = 0.004  # an idle replica's CPU use
    cpu_per_request_ms: float = 1.0  # CPU time a request costs the replica's process
    fluid_step_s: float = 1.0
    write_rows: bool = True  # fluid mode: rows only when this and the count is under max_rows
    max_rows: int = DES_MAX_REQUESTS
    calibration: Calibration | None = None  # measured distributions (kibench simulate --calibrate RUN_DIR)
    curve: LatencyCurve | None = None  # a replica's latency per rate (kibench simulate --curve probes.parquet)
    # seconds after load start (mod sync_period) at which the HPA syncs, as in a measured run (calibrate.hpa_phase_s);
    # None: the calibration's, else every sync_period from the deploy
    hpa_phase_s: float | None = None


@dataclass
class SimOutcome:
    run_dir: Path
    exit_code: int
    summary: dict[str, Any] | None
    mode: str
    wall_s: float
    requests: int
    notes: list[str] = field(default_factory=list)


def _overhead_samples(opt: SimOptions) -> tuple[float, ...]:
    """The overhead draws in ms (a calibration's, else the embedded platform's); () for a constant (none with
    a curve: its latencies were measured through the platform's HTTP path)."""
    if opt.curve is not None:
        return ()
    if opt.calibration is not None and opt.calibration.overhead_ms:
        return opt.calibration.overhead_ms
    return overhead_samples(EMBEDDED_OVERHEAD_MS) if opt.overhead_ms is None else ()


def _log_dropped(cluster: Cluster, per_second: Any) -> int:
    """The dropped arrivals as the load process logs them: a ``dropped_arrivals`` event with the cumulative
    count at the end of each second in which it grew; the total."""
    total = 0
    for sec in np.flatnonzero(per_second):
        total += int(round(float(per_second[sec])))
        cluster.emit(float(sec) + 0.999, "dropped_arrivals", dropped=total)
    return total


def choose_mode(scenario: Scenario, mode: Mode, curve: LatencyCurve | None = None) -> str:
    if curve is not None:
        if mode == "des":
            raise InputError("--curve with --mode des: a measured curve gives a replica's latency per rate, not "
                             "per request; use --mode fluid (or auto)")  # fmt: skip
        return "fluid"
    if isinstance(resolve(scenario.service.profile, scenario.service.device_time_ms), LLMProfile):
        if mode == "fluid":
            raise InputError("--mode fluid with an LLM profile: continuous batching is modelled per request only; "
                             "use --mode des (or auto)")  # fmt: skip
        return "des"
    if mode != "auto":
        return mode
    return "des" if requested_arrivals(segments_for(scenario.load)) <= DES_MAX_REQUESTS else "fluid"


def simulate(
    scenario: Scenario, results_dir: str | Path, options: SimOptions | None = None, source: str = "scenario",
    analyse: bool = True,
) -> SimOutcome:  # fmt: skip
    """Simulate ``scenario`` into a new run folder (see the module docstring)."""
    opt = options or SimOptions()
    check_simulable(scenario, source)
    faults = plan_sim_faults(scenario, source)
    mode = choose_mode(scenario, opt.mode, opt.curve)
    seed = scenario.load.seed if opt.seed is None else opt.seed
    overhead = _overhead_samples(opt)
    mean_overhead_ms = float(np.mean(overhead)) if overhead else float(opt.overhead_ms or 0.0) * (opt.curve is None)
    model = service_model(scenario, mean_overhead_ms, opt.cpu_idle_cores, opt.cpu_per_request_ms)
    started = datetime.now(UTC)
    run_id = new_run_id(scenario, started)
    files = RunFiles(Path(results_dir) / run_id)
    files.root.mkdir(parents=True, exist_ok=False)
    write_atomic(files.scenario, dump(scenario))
    meta: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "scenario": scenario.name,
        "platform": "simulated",
        "started_at": started.isoformat(timespec="seconds"),
        "t0_monotonic": 0.0,
        "environment": environment(),
        "complete": False,
        "simulation": {
            "mode": mode,
            "seed": seed,
            "options": {k: v for k, v in asdict(opt).items() if k not in ("calibration", "curve")},
            "curve": opt.curve.describe() if opt.curve else None,
            "calibration": opt.calibration.describe() if opt.calibration else None,
            "profile": model.profile,
        },
    }
    write_json(files.run_meta, meta)
    wall0 = time.perf_counter()
    segments = segments_for(scenario.load)
    duration = scenario.load.duration_s
    cal = opt.calibration
    phase = opt.hpa_phase_s if opt.hpa_phase_s is not None else (cal.hpa_phase_s if cal else None)
    cl_opt = ClusterOptions(opt.process_start_s, opt.process_start_jitter, opt.deploy_s, opt.load_start_delay_s, seed,
                            cal.process_start_s if cal else (), hpa_phase_s=phase)  # fmt: skip
    cluster = Cluster(scenario, faults, model, cl_opt, scenario.name)
    horizon = duration + scenario.platform.ready_timeout + 60.0 + model.deadline_s
    rows_total = requested_arrivals(segments)
    users = math.ceil(scenario.load.max_concurrency / scenario.load.workers) * scenario.load.workers
    notes: list[str] = []
    writer = None
    profile = resolve(scenario.service.profile, scenario.service.device_time_ms)
    if mode == "des" and isinstance(profile, LLMProfile):
        writer = RowWriter(files)
        assert isinstance(scenario.load.workload, CompletionsWorkload)  # refuse.py
        engine: Any = LlmEngine(model, segments, scenario.load.arrivals, scenario.load.burstiness, seed, writer,
                                horizon, overhead, users, profile=profile, workload=scenario.load.workload,
                                load_seed=scenario.load.seed, service_timeout_s=scenario.service.request_timeout,
                                client_timeout_s=scenario.load.timeout)  # fmt: skip
    elif mode == "des":
        writer = RowWriter(files)
        engine = DesEngine(model, segments, scenario.load.arrivals, scenario.load.burstiness, seed, writer,
                                horizon, overhead, users)  # fmt: skip
    else:
        if opt.write_rows and rows_total <= opt.max_rows:
            writer = RowWriter(files)
        else:
            notes.append(f"fluid mode: {rows_total:,.0f} requests, over max_rows {opt.max_rows:,}: no request rows "
                         "written (latency figures come from sim_per_second.parquet)")  # fmt: skip
        engine = FluidEngine(
            model,
            segments,
            writer,
            horizon,
            opt.fluid_step_s,
            seed,
            scenario.load.arrivals,
            scenario.load.burstiness,
            overhead,
            opt.curve,
            users,
        )
    engine.cluster = cluster
    cluster.run(engine, duration)
    engine.finish([p.name for p in cluster.pods])
    if mode == "fluid":
        engine.write_aggregates(files.root / "sim_per_second.parquet")
    wall = time.perf_counter() - wall0
    dropped = _log_dropped(cluster, engine.dropped_per_s)
    write_events(files, cluster.events)
    write_timeline(files, cluster.timeline)
    write_load_stats(files, {
        "model": "open", "arrivals": scenario.load.arrivals, "requested_arrivals": round(rows_total, 3),
        "generated_arrivals": engine.generated, "scheduled": engine.generated - dropped, "dropped": dropped,
        "recorded": engine.recorded, "max_concurrency": scenario.load.max_concurrency,
        "cpu": {"samples": 0, "saturated_samples": 0, "saturated_share": 0.0, "mean": 0.0, "max": 0.0},
    })  # fmt: skip
    meta["complete"] = cluster.deployed_s is not None and cluster.load_end_s is not None
    meta["error"] = None if meta["complete"] else "the initial replicas never became Ready in the simulation"
    meta["simulation"].update(wall_s=round(wall, 3), requests=engine.generated, notes=notes,
                              status_counts={str(k): v for k, v in sorted(engine.codes.items())})  # fmt: skip
    write_json(files.run_meta, meta)
    summary, code = None, 0
    if analyse:
        summary, code = analyze(files.root)
        build_report(files.root)
    return SimOutcome(files.root, code, summary, mode, wall, engine.generated, notes)
