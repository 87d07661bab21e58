"""Interrupt `kibench run` at random moments and check that nothing of the run is left and nothing is lost.

    .venv/bin/python bench/interrupts.py [--moments 20] [--signals SIGINT,SIGTERM,SIGKILL] [--seed N]
                                         [--scenario bench/interrupts.yaml] [--set path=VALUE]... [--parallel 1]

The run (bench/interrupts.yaml: the embedded cluster with an HPA, two Locust workers under a master, two
Chaos Toolkit experiments with rollbacks) is started with the `kibench` CLI, once uninterrupted to
measure how long it takes, then ``--moments`` times per signal, each time interrupted at a moment drawn
uniformly from the time its run folder appears to the end of the uninterrupted run (deploying, load,
faults, clean-up, analysis and report alike).  After each interrupt:

- exit code: 130 for SIGINT and SIGTERM (a SIGKILLed process has no say: -9);
- processes: none of the processes the run recorded in ``logs/processes.jsonl`` (pid and start time,
  written as each started: platform daemon, pods, forwarder, load master and workers) is alive once
  the CLI has exited (after SIGKILL: within 30 s, they get SIGTERM when their parent dies);
- ports: none of the ports those processes listened on just before the signal is still listening;
- rollbacks: every experiment that started (``chaos_start`` in events.jsonl) has its journal in
  ``chaos/`` with each of its rollbacks run and succeeded (not after SIGKILL: the experiments run in
  the killed process; the faults they set lived in replicas that were stopped with the cluster);
- reportable: ``kibench report RUN_DIR`` exits 0, 1 or 4 and writes summary.json and report.md;
- nothing lost: every request part but a worker's last is readable, the summary counts exactly the
  rows of the readable parts, and a worker's ``load-<worker>.json`` (written when it ends) counts the
  rows found for it.

Prints one line per interrupt (moment, what the run was doing, failures) and the tally per signal.
Exit 0 when every interrupt passed.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pyarrow.parquet as pq

from harness.procs import poll_until, preexec, read_records, running_records

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "bench" / "interrupts.yaml"
KIBENCH = [sys.executable, "-c", "from harness.cli import main; main()"]
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
EXPECTED_EXIT = {"SIGINT": 130, "SIGTERM": 130, "SIGKILL": -signal.SIGKILL}
GONE_AFTER_EXIT_S = {"SIGINT": 5.0, "SIGTERM": 5.0, "SIGKILL": 30.0}


@dataclass
class Trial:
    """One interrupted run and what was found after it."""

    signal: str
    delay_s: float
    stage: str = "?"
    exit_code: int | None = None
    gone_s: float | None = None  # from the CLI's exit until no recorded process was alive
    processes: int = 0
    ports: int = 0
    ended_s: float | None = None  # the run ended by itself this long after its folder appeared
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def line(self) -> str:
        verdict = "ok" if self.ok else "FAIL " + "; ".join(self.failures)
        gone = "-" if self.gone_s is None else f"{self.gone_s:.1f}s"
        return (
            f"{self.signal:<7} at {self.delay_s:5.1f}s ({self.stage:<9}) exit {self.exit_code!s:>4}  "
            f"{self.processes:2d} processes, {self.ports:2d} sockets listening, all gone {gone:>5} after exit {verdict}"
        )


def start_run(scenario: Path, sets: Sequence[str], results: Path, log: Path) -> subprocess.Popen[bytes]:
    argv = [*KIBENCH, "run", str(scenario), "--results", str(results)]
    for item in sets:
        argv += ["--set", item]
    with log.open("wb") as out:  # the CLI dies with this script; its own children die with it
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, preexec_fn=preexec)


def run_folder(results: Path) -> Path | None:
    found = [p.parent for p in results.glob("*/run.json")]
    return found[0] if found else None


def stage_of(run_dir: Path) -> str:
    """What the run was doing, from its event log: deploying, load, faults, clean-up (after load_end)."""
    kinds: list[str] = []
    try:
        for line in (run_dir / "events.jsonl").read_text().splitlines():
            try:
                kinds.append(json.loads(line)["kind"])
            except (ValueError, KeyError):
                continue
    except FileNotFoundError:
        return "deploying"
    if "load_end" in kinds:
        return "ending"
    if kinds.count("chaos_start") > kinds.count("chaos_end"):
        return "fault"
    if "load_start" in kinds:
        return "load"
    return "starting" if "deployed" in kinds else "deploying"


Address = tuple[str, int]


def listening(pids: Sequence[int]) -> set[Address]:
    """The (address, port) pairs these processes listen on (pods share port 8000 on addresses of their own)."""
    found: set[Address] = set()
    for pid in pids:
        try:
            conns = psutil.Process(pid).net_connections(kind="inet")
        except psutil.Error:
            continue
        found |= {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN}
    return found


def still_listening(addresses: set[Address]) -> set[Address]:
    conns = psutil.net_connections(kind="inet")
    return {(c.laddr.ip, c.laddr.port) for c in conns if c.status == psutil.CONN_LISTEN} & addresses


def check_rollbacks(run_dir: Path) -> list[str]:
    problems = []
    started = set()
    events = run_dir / "events.jsonl"  # absent when the signal came before the observer started
    for line in events.read_text().splitlines() if events.exists() else []:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("kind") == "chaos_start":
            started.add(str(event["fault"]))
    for name in sorted(started):
        path = run_dir / "chaos" / f"{name}.journal.json"
        if not path.exists():
            problems.append(f"{name} started, no journal")
            continue
        journal = json.loads(path.read_text())
        want = len(journal.get("experiment", {}).get("rollbacks") or [])
        ran = journal.get("rollbacks") or []
        failed = [r["activity"]["name"] for r in ran if r.get("status") != "succeeded"]
        if len(ran) != want or failed:
            problems.append(f"{name}: {len(ran)}/{want} rollbacks ran, failed {failed}")
    return problems


def check_rows(run_dir: Path) -> list[str]:
    parts: dict[str, list[Path]] = {}
    for path in sorted((run_dir / "requests.parquet").glob("*.parquet")):
        parts.setdefault(path.stem.rsplit("-", 1)[0], []).append(path)
    rows: dict[str, int] = {}
    problems = []
    for worker, paths in parts.items():
        rows[worker] = 0
        for i, path in enumerate(paths):
            try:
                rows[worker] += pq.ParquetFile(path).metadata.num_rows
            except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a torn file
                if i != len(paths) - 1:
                    problems.append(f"part {path.name} (not its worker's last) unreadable: {exc}")
    summary = json.loads((run_dir / "summary.json").read_text())
    counted = int(summary["metrics"].get("requests") or 0)
    if counted != sum(rows.values()):
        problems.append(f"summary counts {counted} requests, the readable parts hold {sum(rows.values())}")
    for worker, found in rows.items():
        meta = run_dir / f"load-{worker}.json"
        if meta.exists() and int(json.loads(meta.read_text()).get("recorded", -1)) != found:
            problems.append(f"load-{worker}.json recorded {json.loads(meta.read_text())['recorded']}, parts {found}")
    return problems


def load_started(run_dir: Path) -> bool:
    return stage_of(run_dir) in ("load", "fault", "ending")


def interrupt_once(
    sig: str,
    delay_s: float,
    workdir: Path,
    scenario: Path,
    sets: Sequence[str],
    after: str = "folder",
    report_after: Collection[str] = tuple(SIGNALS),
) -> Trial:
    """Start a run, send ``sig`` ``delay_s`` after its folder appears (``after="load"``: after its load
    started), and check what it left; ``kibench report`` runs on the folder after the signals in
    ``report_after`` (after the others the run's own report, the same code, is checked)."""
    trial = Trial(sig, delay_s)
    results = workdir / "results"
    proc = start_run(scenario, sets, results, workdir / "cli.log")
    try:
        run_dir = poll_until(lambda: run_folder(results) or proc.poll() is not None, 120.0, 0.02)
        if not isinstance(run_dir, Path):
            trial.failures.append(f"no run folder (exit {proc.poll()})")
            return trial
        appeared = time.monotonic()
        if after == "load" and not poll_until(lambda: load_started(run_dir) or proc.poll() is not None, 120.0, 0.02):
            trial.failures.append("the load never started")
        time.sleep(delay_s)
        if proc.poll() is not None:  # drawn after this run's end: drawn again, earlier
            trial.ended_s = time.monotonic() - appeared
            trial.failures.append(f"the run ended by itself (exit {proc.returncode}) before the signal")
            return trial
        logs = run_dir / "logs"
        alive = [r.pid for r in running_records(logs)]
        ports = listening(alive)
        trial.ports = len(ports)
        trial.stage = stage_of(run_dir)
        proc.send_signal(SIGNALS[sig])
        try:
            trial.exit_code = proc.wait(timeout=180)
        except subprocess.TimeoutExpired:
            trial.failures.append("the CLI did not exit within 180 s")
            proc.kill()
            proc.wait()
        exited = time.monotonic()
        if trial.exit_code != EXPECTED_EXIT[sig] and trial.exit_code is not None:
            trial.failures.append(f"exit {trial.exit_code}, not {EXPECTED_EXIT[sig]}")
        gone = poll_until(lambda: not running_records(logs), GONE_AFTER_EXIT_S[sig], 0.05)
        trial.processes = len(read_records(logs))
        if gone:
            trial.gone_s = time.monotonic() - exited
        else:
            left = [f"{r.role} {r.pid}" for r in running_records(logs)]
            trial.failures.append(f"alive after {GONE_AFTER_EXIT_S[sig]:g}s: {', '.join(left)}")
        if not poll_until(lambda: not still_listening(ports), 5.0, 0.05):
            trial.failures.append(f"still listening: {sorted(still_listening(ports))}")
        if sig != "SIGKILL":
            trial.failures += check_rollbacks(run_dir)
        if sig in report_after:
            report = subprocess.run([*KIBENCH, "report", str(run_dir)], capture_output=True, text=True, cwd=ROOT,
                                    timeout=180)  # fmt: skip
            if report.returncode not in (0, 1, 4) or not (run_dir / "report.md").exists():
                tail = (report.stdout + report.stderr).strip().splitlines()[-3:]
                trial.failures.append(f"kibench report exit {report.returncode}: {' | '.join(tail)}")
                return trial
        elif not ((run_dir / "summary.json").exists() and (run_dir / "report.md").exists()):
            trial.failures.append("the interrupted run did not analyse and report itself")
            return trial
        trial.failures += check_rows(run_dir)
        return trial
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def calibrate(scenario: Path, sets: Sequence[str]) -> float:
    """Seconds from the run folder's appearance to the end of an uninterrupted run."""
    with tempfile.TemporaryDirectory(prefix="kibench-interrupts-") as tmp:
        results = Path(tmp) / "results"
        proc = start_run(scenario, sets, results, Path(tmp) / "cli.log")
        try:
            poll_until(lambda: run_folder(results) or proc.poll() is not None, 120.0, 0.02)
            appeared = time.monotonic()
            code = proc.wait(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        if code not in (0, 1, 4):
            sys.exit(f"the uninterrupted run failed with exit {code}; see {scenario}")
        return time.monotonic() - appeared


def run_trials(
    signals: Sequence[str],
    moments: int,
    window_s: float,
    seed: int,
    scenario: Path = SCENARIO,
    sets: Sequence[str] = (),
    parallel: int = 1,
    keep: Path | None = None,
    after: str = "folder",
    report_after: Collection[str] = tuple(SIGNALS),
) -> list[Trial]:
    """``moments`` interrupts per signal, at moments drawn uniformly from ``[0, window_s]`` after the run
    folder appears (``after="load"``: after the load started)."""
    rng = random.Random(seed)
    # Interleaved (SIGINT, SIGTERM, SIGKILL, SIGINT, ...): a bench cut short has tried every signal alike.
    plan = [(sig, round(rng.uniform(0.0, window_s), 2)) for _ in range(moments) for sig in signals]
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    base = Path(tempfile.mkdtemp(prefix="kibench-interrupts-", dir=keep))

    def one(item: tuple[int, tuple[str, float]]) -> Trial:
        i, (sig, delay) = item
        workdir = base / f"{i:03d}-{sig}"
        workdir.mkdir()
        redraw = random.Random(seed + i)
        for _ in range(3):
            try:
                trial = interrupt_once(sig, delay, workdir, scenario, sets, after, report_after)
            except Exception as exc:  # noqa: BLE001 - a check that broke is a failed interrupt, not a broken bench
                where = traceback.extract_tb(exc.__traceback__)[-1]
                trial = Trial(sig, delay, failures=[f"{type(exc).__name__}: {exc} (line {where.lineno})"])
            if trial.ended_s is None:
                break
            print(f"{sig:<7} at {delay:5.1f}s: the run had ended by itself, drawn again", flush=True)
            delay = round(redraw.uniform(0.0, 0.9 * trial.ended_s), 2)
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
        print(trial.line(), flush=True)
        if trial.ok and keep is None:
            shutil.rmtree(workdir, ignore_errors=True)
        return trial

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        trials = list(pool.map(one, enumerate(plan)))
    if keep is None and all(t.ok for t in trials):
        shutil.rmtree(base, ignore_errors=True)
    else:
        print(f"run folders kept in {base}")
    return trials


def tally(trials: Sequence[Trial]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for t in trials:
        ok, n = out.get(t.signal, (0, 0))
        out[t.signal] = (ok + t.ok, n + 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--moments", type=int, default=20, help="interrupts per signal")
    parser.add_argument("--signals", default="SIGINT,SIGTERM,SIGKILL")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--scenario", type=Path, default=SCENARIO)
    parser.add_argument("--set", dest="sets", action="append", default=[], help="override, as kibench run --set")
    parser.add_argument("--window", type=float, default=None, help="seconds to draw moments from (default: measured)")
    parser.add_argument("--parallel", type=int, default=1, help="runs at once")
    parser.add_argument("--keep", type=Path, default=None, help="keep every run folder under this folder")
    args = parser.parse_args()
    signals = [s.strip().upper() for s in args.signals.split(",") if s.strip()]
    if unknown := [s for s in signals if s not in SIGNALS]:
        sys.exit(f"--signals: unknown {unknown}; use {', '.join(SIGNALS)}")
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 30)
    window = args.window if args.window is not None else calibrate(args.scenario, args.sets)
    print(f"scenario {args.scenario}, {args.moments} moments per signal in [0, {window:.1f}] s, seed {seed}")
    started = time.monotonic()
    trials = run_trials(signals, args.moments, window, seed, args.scenario, args.sets, args.parallel, args.keep)
    print(f"{len(trials)} interrupts in {time.monotonic() - started:.0f} s")
    for sig, (ok, n) in tally(trials).items():
        gone = [t.gone_s for t in trials if t.signal == sig and t.gone_s is not None]
        worst = f", every process gone within {max(gone):.1f} s of the exit" if gone else ""
        print(f"{sig}: {ok}/{n} passed{worst}")
    sys.exit(0 if all(t.ok for t in trials) else 1)


if __name__ == "__main__":
    main()
