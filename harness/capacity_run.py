"""``kibench capacity``: find what one replica sustains at the SLO, then plan replicas, nodes and cost.

In: a validated ``Scenario`` (its ``capacity:`` section, SLOs, service, load workload and ``cost:``), a
results folder, and optionally a peak rate, trace CSV or pod-kill run folder (the failure headroom) that
override ``capacity.plan``.  Out:
``results/<id>/`` holding ``probes/NN-<kind>-<rate>rps/`` (each an ordinary run folder: ``kibench report``
works on it alone) and ``capacity/`` (probes.parquet, capacity.json, plan.csv, plan.md, plots; see
harness/capacity/outputs.py), and a ``CapacityOutcome`` with the exit code: 0 found and confirmed, 1 found
but not confirmed by the repeats, 2 bad input (no rate meets the SLOs, a bad trace), 3 platform failure
(a replica that never becomes Ready), 130 interrupted.  Whatever ends the search, the probes done so far
are kept and capacity/ is written.

Order: deploy ONE replica with the HPA off and no faults (the platform stays up for every probe, so
probes share its clock: t = 0 is the search's start; each probe is judged by harness/capacity_probe.py) →
calibrate (a closed-loop burst) → bracket and refine with open-model constant-rate probes
(harness/capacity/search.py; a probe that fails on a rule alone is run again and the pair judged pooled) →
confirm (harness/capacity/confirm.py's ladder: repeats at the found rate and ``confirm_step_pct`` below, more
repeats when they disagree, block-bootstrap margin intervals; when neither holds, up to
``CONFIRM_EXTRA_STEPS`` more steps down; then bisections above the highest that held) → tear down → plan →
write (capacity/, report.html).  ``replan`` plans again from a finished search's folder without probing.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.analysis import analyze
from harness.analysis.slo import value_on_rows
from harness.capacity import (
    Boundary,
    ProbeRecord,
    SearchSettings,
    boundary_shape,
    bracket,
    confirmed,
    margin_intervals,
    next_rate,
    predicted_root,
    write_outputs,
)
from harness.capacity.confirm import Block, Rung, ladder, pooled_failures
from harness.capacity_plan import (
    CapacityOutcome,
    headroom_inputs,
    plan_inputs,
    plan_overrides,
    plan_trace_points,
    replan,
    report,
)
from harness.capacity_probe import capacity_thresholds, measure
from harness.errors import EXIT_SLO_FAILED, HarnessError, Interrupted, LoadError, PlatformError
from harness.load.config import config_from_spec
from harness.load.launcher import LoadProcess
from harness.model import SCHEMA_VERSION, Platform, RunFiles
from harness.observe import Observer
from harness.platform import create_platform
from harness.run import environment, load_events, refuse_over_measured_scale
from harness.runio import write_atomic, write_json
from harness.scenario import CapacitySpec, LoadSpec, Scenario, dump

PLATFORM_FAILED_SAMPLES = 5
PROBE_SEED_STRIDE = 1000
#: confirm steps below the two the issue names, tried only when neither of those holds
CONFIRM_EXTRA_STEPS = 2


class _Search:
    """The probes of one search on one deployed replica."""

    def __init__(self, scenario: Scenario, root: Path, platform: Platform, t0: float, console: Console) -> None:
        self.base = scenario.model_dump(mode="json")
        self.cap: CapacitySpec = scenario.capacity or CapacitySpec()
        self.thresholds = capacity_thresholds(scenario)
        self.root, self.platform, self.t0, self.console = root, platform, t0, console
        self.probes: list[ProbeRecord] = []
        self.blocks: dict[int, list[Block]] = {}
        self.target_url = ""

    # ---- one probe ---------------------------------------------------------------------------------

    def probe(self, kind: str, rate_rps: float | None) -> ProbeRecord:
        cap, index = self.cap, len(self.probes) + 1
        load = dict(self.base["load"])
        for key in ("rate_rps", "duration", "stages", "shape", "users", "spawn_rate", "locustfile"):
            load[key] = None
        load["start_rps"] = 0.0
        # each probe its own draws (seed x PROBE_SEED_STRIDE + index): repeats at one rate are independent samples
        # of the arrivals, not one schedule replayed; the probe's scenario.yaml records its seed
        load["seed"] = int(self.base["load"].get("seed") or 0) * PROBE_SEED_STRIDE + index
        if rate_rps is None:  # calibrate: closed loop
            load.update(model="closed", users=cap.calibrate_users, duration=cap.calibrate)
            label = "calibrate"
        else:
            duration = cap.warmup + cap.probe_requests / rate_rps
            load.update(model="open", rate_rps=rate_rps, duration=min(max(duration, cap.min_probe), cap.max_probe))
            label = f"{kind}-{rate_rps:.4g}rps"
        data = {**self.base, "load": load}
        scenario = Scenario.model_validate(data)
        files = RunFiles(self.root / "probes" / f"{index:02d}-{label}")
        files.logs.mkdir(parents=True)
        write_atomic(files.scenario, dump(scenario))
        meta = {
            "schema_version": SCHEMA_VERSION,
            "run_id": f"{self.root.name}-p{index:02d}",
            "scenario": scenario.name,
            "platform": self.base["platform"]["kind"],
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "t0_monotonic": self.t0,
            "environment": environment(),
            "complete": False,
            "capacity_probe": {"kind": kind, "index": index},
        }
        write_json(files.run_meta, meta)
        try:
            self._drive(scenario.load, files)
        finally:
            meta["complete"] = True
            write_json(files.run_meta, meta)
        summary, _ = analyze(files.root)
        record, blocks = self.measure(files, index, kind, rate_rps, summary)
        self.probes.append(record)
        self.blocks[index] = blocks
        mark = "pass" if record.passed else "FAIL"
        why = f" ({'; '.join(record.reasons)})" if record.reasons else ""
        self.console.print(f"  probe {index:2d} {kind:<9} {record.rate_rps:9.3f} rps  {mark}{why}", markup=False)
        return record

    def _drive(self, load_spec: LoadSpec, files: RunFiles) -> None:
        observer = Observer(self.platform, files, self.t0)
        observer.start()
        config = config_from_spec(load_spec, self.target_url, str(files.root), self.t0, None)
        load = LoadProcess(config, str(files.logs / "load.log"), load_events(observer, load_spec))
        try:
            load.start()
            deadline = time.monotonic() + load_spec.duration_s + 120.0
            while load.poll() is None:
                if observer.failed_samples >= PLATFORM_FAILED_SAMPLES:
                    raise PlatformError(f"the platform stopped answering; see {self.root / 'logs'}")
                if time.monotonic() > deadline:
                    raise LoadError(f"the probe's load did not end in time; see {files.logs / 'load.log'}")
                time.sleep(0.1)
            code = load.wait(timeout_s=5)
            if code not in (0, None):
                raise LoadError(f"the load process exited with code {code}; see {files.logs / 'load.log'}")
        finally:
            try:
                load.stop()
            finally:
                observer.stop()

    def measure(
        self, files: RunFiles, index: int, kind: str, rate: float | None, summary: dict[str, Any]
    ) -> tuple[ProbeRecord, list[Block]]:
        return measure(files, (index, kind, rate), summary, self.cap, self.thresholds, self.root)

    # ---- the search ---------------------------------------------------------------------------------

    def run(self) -> Boundary:
        cap = self.cap
        calib = self.probe("calibrate", None)
        raw = calib.throughput_rps or 0.0
        if raw <= 0:
            raise PlatformError("the calibration burst completed no request; see the probe's logs")
        settings = SearchSettings(cap.start_fraction, cap.bracket_pct, cap.max_probes, cap.min_rate_rps)
        searched: list[ProbeRecord] = []
        while (rate := next_rate(settings, raw, searched)) is not None:
            kind = (
                "bracket"
                if not any(not p.passed for p in searched) or not any(p.passed for p in searched)
                else "refine"
            )
            record = self.probe(kind, rate)
            if not record.passed and record.slos_held and not record.loadgen_saturated:
                record = self.pool(record, self.probe(kind, rate))
            searched.append(record)
        return self.confirm(raw, searched, settings)

    def pool(self, first: ProbeRecord, again: ProbeRecord) -> ProbeRecord:
        """A search probe that failed on a rule alone (achieved rate, over-saturation), judged together with a
        second probe at its rate (confirm.pooled_failures; the second's SLOs must hold too); both rows carry the
        pair's verdict.  One probe's rules are noisy near capacity with random arrivals (confirm.py)."""
        reasons = pooled_failures([first, again], self.cap.min_achieved)
        slos = {t.key for t in self.thresholds}  # the second's own SLO failures (its rules are judged pooled)
        reasons += [f"{r} in probe {again.index}" for r in again.reasons if r.split(" ", 1)[0] in slos]

        def pooled(record: ProbeRecord, other: ProbeRecord) -> ProbeRecord:  # each row names the other probe
            why = (f"pooled with probe {other.index}: {reasons[0]}", *reasons[1:]) if reasons else ()
            return replace(record, passed=not reasons, reasons=why, pooled_with=other.index)

        first, again = pooled(first, again), pooled(again, first)
        self.probes[first.index - 1], self.probes[again.index - 1] = first, again
        mark = "pass" if first.passed else "FAIL"
        self.console.print(f"  probes {first.index} and {again.index} pooled: {mark}", markup=False)
        return first

    def confirm(self, raw: float, searched: list[ProbeRecord], settings: SearchSettings) -> Boundary:
        cap, b = self.cap, bracket(searched)
        notes: list[str] = []
        if b.last_pass is None:  # cannot happen: next_rate raises first
            raise HarnessError("no passing probe")
        width = b.width
        converged = width is not None and width <= cap.bracket_pct / 100 + 1e-9
        if b.first_fail is None:
            notes.append(f"no probe failed up to {b.last_pass.rate_rps:g} rps: the capacity is at least that")
        elif not converged:
            notes.append(f"the bracket is {width:.1%} wide after {len(searched)} probes (max_probes)")
        seed = int(self.base["load"].get("seed") or 0)

        def judge(rate: float, n: int) -> Rung:  # confirm_repeats repeats at one rate, judged pooled
            repeats = [self.probe("confirm", rate) for _ in range(cap.confirm_repeats)]
            while len({p.passed for p in repeats}) > 1 and len(repeats) < cap.confirm_max_repeats:
                repeats.append(self.probe("confirm", rate))  # split verdicts: more repeats
            blocks = [blk for p in repeats for blk in self.blocks[p.index]]
            intervals = margin_intervals(blocks, self.thresholds, value_on_rows, cap.resamples, seed + n)
            return Rung(rate, tuple(repeats), intervals, confirmed(intervals, repeats, cap.min_achieved))

        found = b.last_pass.rate_rps
        answer, _ = ladder(found, cap.confirm_step_pct, CONFIRM_EXTRA_STEPS, cap.confirm_bisections, judge)
        if answer is not None and answer.rate_rps < found * (1 - cap.confirm_step_pct / 100):
            notes.append(f"confirmed only {1 - answer.rate_rps / found:.1%} below the last passing rate")
        if any(p.host_saturated for p in self.probes):
            notes.append(
                "some probes ran on a saturated host (platform_saturated): the answer measures this machine too"
            )
        key, reason = None, None
        shape = None
        if b.first_fail is not None:
            _, key = predicted_root(searched, b.last_pass.rate_rps, b.first_fail.rate_rps)
            failing = [k for k, m in b.first_fail.margins.items() if m is not None and m >= 0]
            key = key or (max(failing, key=lambda k: b.first_fail.margins[k] or 0) if failing else None)  # type: ignore[union-attr]
            reason = "; ".join(b.first_fail.reasons)
            if key is None:  # no SLO's margin crossed: a failure rule bound it (as judged, pooled or not)
                rules = (("over-saturated", "over-saturated" in reason), ("load generator", "load generator" in reason))
                key = next((name for name, hit in rules if hit), "achieved rate")
            shape = boundary_shape(searched, key, b.last_pass, b.first_fail)
        if answer is None:
            notes.append("no confirm rate held in every repeat with its margin interval inside the SLOs")
        return Boundary(
            found_rps=None if answer is None else answer.answer_rps,
            confirmed=answer is not None,
            last_passing_rps=b.last_pass.rate_rps,
            first_failing_rps=None if b.first_fail is None else b.first_fail.rate_rps,
            binding_slo=key,
            binding_reason=reason,
            shape=shape,
            margin_interval={} if answer is None else answer.intervals,
            raw_rps=raw,
            probes_used=sum(p.kind in ("bracket", "refine") for p in self.probes),
            converged=converged,
            notes=tuple(notes),
            confirmed_rate_rps=None if answer is None else answer.rate_rps,
        )


@contextmanager
def _signals() -> Iterator[None]:
    def handle(signum: int, frame: Any) -> None:
        raise Interrupted(f"interrupted by {signal.Signals(signum).name}; the probes done so far were kept")

    old = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_capacity(
    scenario: Scenario,
    results_dir: str | Path,
    console: Console | None = None,
    peak_rps: float | None = None,
    trace: str | None = None,
    headroom_run: str | None = None,
) -> CapacityOutcome:
    """Search, plan and write (see the module docstring); never leaves a process behind."""
    console = console or Console()
    cap = scenario.capacity or CapacitySpec()
    plan = plan_overrides(cap, peak_rps, trace, headroom_run)
    trace_points = plan_trace_points(plan.trace)  # a bad trace: exit 2 before anything starts
    if plan.headroom_run:  # a run folder without a fault: exit 2 before anything starts
        headroom_inputs(plan.headroom_run)
    capacity_thresholds(scenario)  # an SLO without a margin: exit 2 before anything starts
    data = scenario.model_dump(mode="json")
    data["service"]["replicas"] = 1
    data["platform"]["hpa"]["enabled"] = False
    data["faults"] = []
    one = Scenario.model_validate(data)
    refuse_over_measured_scale(one, f"scenario {scenario.name!r}")  # nodes: exit 2 before anything starts
    started = datetime.now(UTC)
    run_id = f"{started:%Y%m%d-%H%M%S}-{scenario.name}-capacity-{secrets.token_hex(2)}"
    root = Path(results_dir) / run_id
    t0 = time.monotonic()
    platform = create_platform(one, t0_monotonic=t0, log_dir=str(root / "logs"), run_id=run_id)
    (root / "probes").mkdir(parents=True)
    (root / "logs").mkdir(exist_ok=True)
    write_atomic(root / "scenario.yaml", dump(one))
    search = _Search(one, root, platform, t0, console)
    boundary: Boundary | None = None
    error: HarnessError | None = None
    deploy_events: list[dict[str, Any]] = []
    console.print(f"capacity search {run_id}: one replica on the {one.platform.kind} platform", highlight=False)
    with _signals():
        try:
            deployment = platform.deploy()
            search.target_url = deployment.target_url
            events, _ = platform.events(0)
            deploy_events = [e.to_json() for e in events]
            boundary = search.run()
        except HarnessError as exc:
            error = exc
        except BaseException:  # a bug: keep the probes done so far, then let the traceback show
            platform.teardown()
            write_outputs(root, search.probes, None, plan, None, None, None)
            raise
        finally:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                platform.teardown()
            except HarnessError as exc:
                error = error or exc
    inputs = plan_inputs(one, plan, boundary, search.probes, deploy_events) if boundary else None
    try:
        written = write_outputs(root, search.probes, boundary, plan, inputs, trace_points, error)
    except HarnessError as exc:
        error = error or exc
        written = []
    written += report(root)
    for path in written:
        console.print(f"wrote {path}", highlight=False)
    if error is not None:
        return CapacityOutcome(root, error.exit_code, boundary, str(error))
    code = 0 if boundary is not None and boundary.confirmed else EXIT_SLO_FAILED
    return CapacityOutcome(root, code, boundary)


__all__ = ["CapacityOutcome", "capacity_thresholds", "replan", "run_capacity"]
