"""The ``kibench`` command line (a thin typer app).

In: argv.  Out: exit codes per docs/architecture.md (0 pass, 1 SLO failed, 2 bad input, 3 platform error,
4 self-check failed: the measurement is not trustworthy, 130 interrupted).  A ``HarnessError`` prints
its message (what, where, how to fix), never a traceback.

    kibench run FILE [--set path=VALUE]... [--results DIR] [--no-default-slos] [--dry-run] [--keep]
    kibench validate FILE [--set ...]
    kibench schema
    kibench report RUN_DIR [--summary-md PATH]
    kibench compare BASELINE CANDIDATE [--margin METRIC=N%]... [--strict] [--out DIR] [--summary-md PATH]
    kibench simulate FILE [--set ...] [--mode auto|des|fluid] [--seed N] [--results DIR]
    kibench capacity FILE [--set ...] [--results DIR] [--peak RPS] [--trace CSV] [--headroom-from RUN]
    kibench serve [--port N] [--profile NAME] [--device-time-ms MS] [--cold-start-s S]
    kibench cluster run FILE [--set ...] [--results DIR] [--keep] [--dry-run]
    kibench cluster unpack [LOG|-] [--results DIR]
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from harness.errors import EXIT_BAD_INPUT, EXIT_INTERRUPTED, HarnessError

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Load and resilience benchmarks for inference services."
)
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

SummaryMdOpt = Annotated[
    Path | None,
    typer.Option("--summary-md", help="Append a compact Markdown summary here (e.g. $GITHUB_STEP_SUMMARY)"),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a scenario field: path.to.field=VALUE (VALUE is YAML). Repeatable."),
]


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    set_: SetOpt = None,
    results: Annotated[Path, typer.Option("--results", help="Folder for run folders")] = Path("results"),
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan (faults; on kind kubernetes the context, namespace, objects and their manifests); "
            "start, create and change nothing",
        ),
    ] = False,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="platform.kind kubernetes: leave the run's namespace (or objects) on the cluster"),
    ] = False,
    no_default_slos: Annotated[
        bool, typer.Option("--no-default-slos", help="No default SLOs (same as slo_defaults: false)")
    ] = False,
    summary_md: SummaryMdOpt = None,
) -> None:
    """Run a scenario and write results/<run-id>/; exit 0 when every SLO holds, 1 when one fails, 4 when a
    self-check says the measurement is not trustworthy."""
    from harness.run import exit_code_name, refuse_over_measured_scale, run_scenario
    from harness.scenario import load_scenario

    scenario = load_scenario(file, [*(set_ or []), *(["slo_defaults=false"] if no_default_slos else [])])
    refuse_over_measured_scale(scenario, str(file))
    if dry_run:  # validates every experiment too (exit 2 when one is bad)
        _dry_run(file, scenario)
    outcome = run_scenario(scenario, results, console, keep=keep)
    if outcome.summary is not None:
        for slo in outcome.summary["slos"]:
            mark = "pass" if slo["pass"] else "FAIL"
            tags = [t for t in ("default", "self-check") if slo.get(t.replace("-", "_"))]
            tag = f" [{', '.join(tags)}]" if tags else ""
            console.print(f"  {mark}  {slo['metric']} {slo['expression']}{tag}  (value {slo['value']})", markup=False)
        for f in outcome.summary.get("faults", []):  # docs/chaos.md
            line = f"  fault {f['name']}: {f['status']}, {f['failed_requests']} failed requests, "
            line += f"capacity back in {f['time_to_capacity_s']} s, SLO back in {f['time_to_slo_s']} s"
            console.print(line, markup=False)
        _print_findings(outcome.summary)
    if outcome.error:
        err_console.print(f"error: {outcome.error}")
    if summary_md is not None and outcome.summary is not None:
        from harness.report import append_summary, run_summary_md

        append_summary(summary_md, run_summary_md(outcome.summary))
    if outcome.summary is not None:
        console.print(f"  resilience score {outcome.summary['metrics'].get('resilience_score')}; "
                      f"report {outcome.run_dir / 'report.html'}", markup=False)  # fmt: skip
    console.print(f"run folder: {outcome.run_dir}")
    console.print(f"verdict: {exit_code_name(outcome.exit_code)} (exit {outcome.exit_code})")
    raise typer.Exit(outcome.exit_code)


def _dry_run(file: Path, scenario: Any) -> None:
    """Print the faults' plan and, on a cluster, the platform's plan and manifests; exit 0.

    On kind kubernetes the plan lines are YAML comments, so the whole output is a YAML stream that
    ``kubectl apply --dry-run=client -f -`` reads; the cluster is read (GET only) to report what a run would
    refuse (exit 2 then)."""
    from datetime import UTC, datetime

    from harness.chaos import plan_faults, plan_lines
    from harness.platform import dry_run
    from harness.run import new_run_id

    faults = plan_lines(plan_faults(scenario.faults, source=str(file)), scenario.load.duration_s)
    run_id = new_run_id(scenario, datetime.now(UTC))
    plan = dry_run(scenario, run_id)
    mark = "# " if plan.lines else ""
    for line in faults:
        console.print(f"{mark}{line}", markup=False)
    if plan.lines:
        console.print(f"# plan for run id {run_id} (a run makes its own id; the names that contain it differ)",
                      markup=False)  # fmt: skip
        for line in plan.lines:
            console.print(f"# {line}", markup=False)
    if plan.refusal is not None:
        raise plan.refusal  # exit 2: a run would be refused (the plan above says what it would have done)
    console.print(f"{mark}dry run of {scenario.name!r}: nothing was started, created or changed", markup=False)
    if plan.manifests:
        console.file.flush()
        sys.stdout.write("---\n" + plan.manifests)
        sys.stdout.flush()
    raise typer.Exit(0)


def _print_findings(summary: dict[str, Any]) -> None:
    """The run's warnings and, when it failed, why (harness/analysis/caveats.py, verdict.py)."""
    for warning in summary.get("warnings", []):
        console.print(f"  warning: {warning}", markup=False)
    if summary.get("verdict_reason"):
        console.print(f"  why: {summary['verdict_reason']}", markup=False)


@app.command()
def validate(file: Annotated[Path, typer.Argument(help="Scenario YAML file")], set_: SetOpt = None) -> None:
    """Validate a scenario file; exit 2 naming the field when it is wrong."""
    from harness.chaos import plan_faults
    from harness.scenario import load_scenario

    scenario = load_scenario(file, set_ or [])
    plan_faults(scenario.faults, source=str(file))  # every fault's experiment loads and validates too
    console.print(f"{file}: valid scenario {scenario.name!r} ({scenario.load.duration_s:g}s of load)")


@app.command()
def schema() -> None:
    """Print the scenario file's JSON Schema."""
    from harness.scenario import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, e.g. results/<run-id>")],
    summary_md: SummaryMdOpt = None,
) -> None:
    """Rebuild summary.json, report.md/.html, junit.xml and plots from a run folder's files alone (a
    `kibench capacity` search's folder: its report.html; a run folder with capacity/: a capacity section)."""
    from harness.analysis import analyze
    from harness.model import RunFiles
    from harness.report import append_summary, build_report, run_summary_md, write_capacity_report

    if (run_dir / "capacity" / "capacity.json").is_file() and not RunFiles(run_dir).run_meta.exists():
        console.print(f"wrote {write_capacity_report(run_dir)}")  # a capacity search: its probes are the runs
        raise typer.Exit(0)
    summary, code = analyze(run_dir)
    for path in build_report(run_dir):
        console.print(f"wrote {path}")
    _print_findings(summary)
    if summary_md is not None:
        append_summary(summary_md, run_summary_md(summary))
    console.print(f"verdict: {summary['verdict']} (exit {code})")
    raise typer.Exit(code)


@app.command()
def simulate(
    file: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    set_: SetOpt = None,
    results: Annotated[Path, typer.Option("--results", help="Folder for run folders")] = Path("results"),
    mode: Annotated[str, typer.Option("--mode", help="auto | des (per request) | fluid (rates per step)")] = "auto",
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the model's draws (default: load.seed)")] = None,
    calibrate: Annotated[
        Path | None,
        typer.Option("--calibrate", help="A measured run folder: draw overhead and pod start-up from its figures"),
    ] = None,
    curve: Annotated[
        Path | None,
        typer.Option(
            "--curve",
            help="RUN_DIR/capacity/probes.parquet of kibench capacity: each replica's latency "
            "per rate, instead of the device profile (fluid mode)",
        ),
    ] = None,
) -> None:
    """Play a scenario on the simulator (docs/simulate.md) into a run folder marked platform: simulated;
    the same files and summary as a measured run, so report and compare work on it."""
    from harness.run import exit_code_name
    from harness.scenario import load_scenario
    from harness.simulate import SimOptions, calibrate_from, load_curve
    from harness.simulate import simulate as run_sim

    if mode not in ("auto", "des", "fluid"):
        raise typer.BadParameter(f"--mode must be auto, des or fluid (got {mode!r})")
    scenario = load_scenario(file, set_ or [])
    cal = None if calibrate is None else calibrate_from(calibrate)
    lat_curve = None if curve is None else load_curve(curve)
    options = SimOptions(mode=mode, seed=seed, calibration=cal, curve=lat_curve)  # type: ignore[arg-type]
    outcome = run_sim(scenario, results, options, source=str(file))
    console.print(f"simulated {outcome.requests:,} requests in {outcome.wall_s:.2f} s ({outcome.mode} mode)")
    for note in outcome.notes:
        console.print(f"  note: {note}", markup=False)
    if outcome.summary is not None:
        _print_findings(outcome.summary)
    console.print(f"run folder: {outcome.run_dir}")
    console.print(f"verdict: {exit_code_name(outcome.exit_code)} (exit {outcome.exit_code})")
    raise typer.Exit(outcome.exit_code)


@app.command()
def compare(
    baseline: Annotated[str, typer.Argument(help="Run folder, folder of repeats, or comma-separated run folders")],
    candidate: Annotated[str, typer.Argument(help="Run folder, folder of repeats, or comma-separated run folders")],
    margin: Annotated[
        list[str] | None, typer.Option("--margin", help="METRIC=N%, e.g. latency_ms.p95=5%. Repeatable.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 on INCONCLUSIVE too")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="Folder for compare.json/.md/.html, junit.xml")] = None,
    window: Annotated[float | None, typer.Option("--window", help="Window length in s (default 10)")] = None,
    warmup: Annotated[float | None, typer.Option("--warmup", help="Warm-up in s (default: 10, <= 20% of load)")] = None,
    resamples: Annotated[int, typer.Option("--resamples", min=100, help="Bootstrap resamples")] = 2000,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed")] = 0,
    allow_diff: Annotated[
        list[str] | None, typer.Option("--allow-diff", help="Scenario field that may differ, e.g. service. Repeatable.")
    ] = None,
    summary_md: SummaryMdOpt = None,
) -> None:
    """Compare a candidate with a baseline; exit 1 on a regression (--strict: also on INCONCLUSIVE)."""
    from harness.compare import Settings, compare_runs, parse_margin, write_compare_json
    from harness.report import append_summary, compare_summary_md, write_compare_reports

    settings = Settings(dict(parse_margin(m) for m in margin or []), strict, window, warmup, resamples, seed,
                        tuple(allow_diff or ()))  # fmt: skip
    result = compare_runs(baseline, candidate, settings)
    folder = out or _compare_folder(result)
    written = [write_compare_json(folder, result), *write_compare_reports(folder, result)]
    for m in result["metrics"]:
        console.print(f"  {m['verdict']:<12} {m['name']:<16} {m['change_label']}  (margin ±{m['margin_label']})")
    for warning in result["warnings"]:
        console.print(f"  warning: {warning}", markup=False)
    if summary_md is not None:
        append_summary(summary_md, compare_summary_md(result))
    console.print(f"wrote {', '.join(str(p) for p in written)}", markup=False)
    console.print(f"verdict: {result['verdict']} (exit {result['exit_code']})")
    raise typer.Exit(result["exit_code"])


def _compare_folder(result: dict) -> Path:
    """Default output: compare-<baseline id>-vs-<candidate id> next to the candidate's first run folder."""
    first = Path(result["candidate"]["paths"][0])
    ids = [result[side]["run_ids"] for side in ("baseline", "candidate")]
    names = [i[0] + (f"+{len(i) - 1}" if len(i) > 1 else "") for i in ids]
    return first.parent / f"compare-{names[0]}-vs-{names[1]}"


@app.command()
def capacity(
    file: Annotated[
        Path, typer.Argument(help="Scenario YAML file with SLOs (a capacity: section), or a search's folder to re-plan")
    ],
    set_: SetOpt = None,
    results: Annotated[Path, typer.Option("--results", help="Folder for the search's folder")] = Path("results"),
    peak: Annotated[float | None, typer.Option("--peak", min=0.0, help="Plan for this peak rate (rps)")] = None,
    trace: Annotated[Path | None, typer.Option("--trace", help="Plan for this trace CSV (time_s,rate_rps)")] = None,
    headroom_from: Annotated[
        Path | None, typer.Option("--headroom-from", help="A pod-kill run folder: failure headroom measured from it")
    ] = None,
) -> None:
    """Find what one replica sustains at the SLO, then plan replicas, nodes and cost (docs/capacity.md);
    exit 0 found and confirmed, 1 not confirmed, 2 no rate meets the SLOs or bad input, 3 platform error."""
    from harness.capacity_run import replan, run_capacity
    from harness.run import exit_code_name
    from harness.scenario import load_scenario

    trace_path = None if trace is None else str(trace.resolve())
    headroom = None if headroom_from is None else str(headroom_from.resolve())
    if file.is_dir():  # re-plan from a finished search: no probe runs
        outcome = replan(file, console, peak_rps=peak or None, trace=trace_path, headroom_run=headroom)
    else:
        scenario = load_scenario(file, set_ or [])
        outcome = run_capacity(scenario, results, console, peak_rps=peak or None, trace=trace_path,
                               headroom_run=headroom)  # fmt: skip
    b = outcome.boundary
    if b is not None:
        found = "not confirmed" if b.found_rps is None else f"{b.found_rps:.4g} rps per replica"
        console.print(f"  capacity: {found}; last passing {b.last_passing_rps:.4g} rps, first failing "
                      f"{b.first_failing_rps if b.first_failing_rps is None else round(b.first_failing_rps, 4)} rps, "
                      f"binding {b.binding_slo} ({b.shape}), {b.probes_used} search probes", markup=False)  # fmt: skip
    if outcome.error:
        err_console.print(f"error: {outcome.error}")
    console.print(f"capacity folder: {outcome.run_dir / 'capacity'}")
    console.print(f"verdict: {exit_code_name(outcome.exit_code)} (exit {outcome.exit_code})")
    raise typer.Exit(outcome.exit_code)


@app.command()
def serve(
    port: Annotated[int, typer.Option(envvar="KIBENCH_PORT")] = 8000,
    host: Annotated[str, typer.Option(envvar="KIBENCH_HOST")] = "127.0.0.1",
    replica: Annotated[str, typer.Option(envvar=["KIBENCH_REPLICA", "HOSTNAME"])] = "replica-0",
    device_time_ms: Annotated[float, typer.Option(envvar="KIBENCH_DEVICE_TIME_MS")] = 50.0,
    cold_start_s: Annotated[float, typer.Option(envvar="KIBENCH_COLD_START_S")] = 0.0,
    grace_s: Annotated[float, typer.Option(envvar="KIBENCH_GRACE_S")] = 30.0,
    profile: Annotated[
        str | None, typer.Option(envvar="KIBENCH_PROFILE", help="named device profile (docs/service.md)")
    ] = None,
    backend: Annotated[str, typer.Option(envvar="KIBENCH_BACKEND", help="emulated or torch")] = "emulated",
    config_json: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="KIBENCH_SERVICE_CONFIG",
            help="a scenario's service section as JSON (overrides the rest)",
        ),
    ] = None,
) -> None:
    """Serve the reference inference service (one replica)."""
    import os

    from harness.service.config import config_from_flags, config_from_section
    from harness.service.server import serve as _serve

    if config_json:
        config = config_from_section(config_json, replica)
    else:
        config = config_from_flags(
            replica, profile, backend=backend, device_time_ms=device_time_ms, cold_start_s=cold_start_s
        )
    _serve(config.with_env(os.environ), host, port, grace_s)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


cluster_app = typer.Typer(no_args_is_help=True, help="Run kibench itself inside a Kubernetes cluster.")
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("run")
def cluster_run(
    file: Annotated[Path, typer.Argument(help="Scenario YAML file")],
    set_: SetOpt = None,
    results: Annotated[Path, typer.Option("--results", help="Folder the run folder is copied back to")] = Path(
        "results"
    ),
    keep: Annotated[bool, typer.Option("--keep", help="Leave the run's namespace (or objects) on the cluster")] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and the manifests; touch nothing")] = False,
) -> None:
    """Run a scenario inside the cluster as a Job (docs/kubernetes.md); exit with the run's exit code."""
    from harness.chaos import fault_access, plan_faults, refuse_embedded_only
    from harness.platform.kubernetes.clusterrun import cluster_run as _cluster_run
    from harness.platform.kubernetes.harness_job import FaultRules
    from harness.scenario import load_scenario

    faults = None
    scenario = load_scenario(file, [*(set_ or []), "platform.kind=kubernetes"])
    if scenario.faults:  # the Job's Role grants what they need, and nothing else (exit 2 for what it cannot run)
        plan = plan_faults(scenario.faults, source=str(file))
        refuse_embedded_only(plan, "kubernetes", str(file), runner="kibench cluster run")
        access = fault_access(plan, str(file))
        faults = FaultRules(access.namespaced, access.cluster)
    raise typer.Exit(_cluster_run(file, set_ or [], results, keep, dry_run, console, faults))


@cluster_app.command("unpack")
def cluster_unpack(
    log: Annotated[str, typer.Argument(help="A pod's log as a file, or - for stdin")] = "-",
    results: Annotated[Path, typer.Option("--results", help="Folder to unpack the run folder into")] = Path("results"),
) -> None:
    """Unpack the run folder an in-cluster run printed to its log (kubectl logs job/kibench-harness | ...)."""
    from harness.platform.kubernetes import runcopy

    reader = runcopy.Reader()
    with sys.stdin if log == "-" else open(log, encoding="utf-8", errors="replace") as fh:  # noqa: SIM115
        for line in fh:
            reader.feed(line)
    console.print(f"run folder: {reader.extract(results)}")


@cluster_app.command("in-pod", hidden=True)
def cluster_in_pod(
    file: Annotated[str, typer.Argument(help="The scenario as mounted in the pod")],
    set_: SetOpt = None,
    results: Annotated[str, typer.Option("--results", help="The results volume in the pod")] = "/var/kibench/results",
) -> None:
    """The Job's command: run the scenario in-cluster, print the run folder to the log, exit with its code."""
    from harness.platform.kubernetes import incluster, runcopy

    forced = ["platform.kind=kubernetes", f"platform.namespace={incluster.namespace() or 'default'}",
              "platform.kubeconfig=null", "platform.context=null"]  # fmt: skip
    folder = Path(incluster.container_path(results))
    code = 3
    try:
        run(Path(incluster.container_path(file)), [*(set_ or []), *forced], folder)
    except typer.Exit as exc:
        code = exc.exit_code
    except HarnessError as exc:
        err_console.print(f"error: {exc}")
        code = exc.exit_code
    finally:
        runs = sorted((p for p in folder.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
        console.file.flush()
        if runs:
            for line in runcopy.block(runs[-1]):
                sys.stdout.write(line + "\n")
        sys.stdout.flush()
    raise typer.Exit(code)


def main() -> None:
    """Console-script entry: map HarnessError to its exit code without a traceback; SIGINT/SIGTERM: 130."""
    main_thread = threading.current_thread() is threading.main_thread()  # handlers only go there
    old_term = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None  # a run installs its own
    try:
        code = app(standalone_mode=False)
    except KeyboardInterrupt:
        err_console.print("error: interrupted")
        sys.exit(EXIT_INTERRUPTED)
    except HarnessError as exc:
        err_console.print(f"error: {exc}")
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # click turns it into Abort
            err_console.print("error: interrupted")
            sys.exit(EXIT_INTERRUPTED)
        err_console.print("error: aborted")
        sys.exit(EXIT_BAD_INPUT)
    except Exception as exc:
        # Usage errors (unknown option, missing argument, bad value) are click exceptions; typer ships its
        # own copy of click, so recognise them by what they carry, not by class.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(EXIT_BAD_INPUT)
        raise
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, old_term)
    sys.exit(code if isinstance(code, int) else 0)
