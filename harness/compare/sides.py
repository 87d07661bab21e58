"""The two sides of a comparison: which run folders, what they hold, and whether they may be compared.

In: a side as given on the command line: a run folder, a folder of run folders (repeats), or several
paths joined by commas.  Out: ``RunSample`` per run (the request columns compare needs, the load window,
the resolved scenario, run.json), and ``check_alike``, which refuses (``UnlikeRunsError``, exit 2) runs
whose schema, resolved scenario or workload differ, naming every difference (pyperf refuses to compare
unlike benchmarks the same way).  ``--allow-diff PATH`` lets a scenario field differ on purpose (e.g.
``service.device_time_ms`` when the candidate is a slower build of the emulated service).  Differences of
environment (kibench, Python, OS versions) and incomplete runs are warnings, not refusals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from harness.errors import RunFolderError, UnlikeRunsError
from harness.model import RunFiles
from harness.runio import read_events, read_json, read_meta, read_requests
from harness.thresholds import parse

COLUMNS = ["t_intended_s", "latency_ms", "ok", "ttft_ms", "itl_mean_ms"]
WORKLOAD_KEYS = ("load", "target")
_IGNORED_KEYS = ("description",)
_ENV_KEYS = ("kibench", "python", "locust", "os", "machine", "pandas", "pyarrow")


@dataclass
class RunSample:
    """One run's request rows (sorted by intended send time) and what compare needs around them."""

    path: Path
    run_id: str
    meta: dict[str, Any]
    scenario: dict[str, Any]
    t_s: np.ndarray
    latency_ms: np.ndarray
    ok: np.ndarray
    ttft_ms: np.ndarray
    itl_ms: np.ndarray
    load_start_s: float
    load_duration_s: float
    latency_limit_ms: float | None
    warnings: list[str]


def resolve_side(arg: str | Path) -> list[Path]:
    """A run folder, a folder of run folders, or ``a,b,c`` → run folders (sorted where found by listing)."""
    parts = [p for p in str(arg).split(",") if p.strip()] if "," in str(arg) else [str(arg)]
    out: list[Path] = []
    for part in parts:
        path = Path(part.strip())
        if (path / "run.json").exists():
            out.append(path)
        elif path.is_dir() and any((child / "run.json").exists() for child in path.iterdir()):
            out.extend(sorted(child for child in path.iterdir() if (child / "run.json").exists()))
        elif path.is_dir():
            raise RunFolderError(f"{path}: neither a run folder (no run.json) nor a folder of run folders")
        else:
            raise RunFolderError(f"{path}: no such run folder; pass results/<run-id> (or several, comma-separated)")
    return out


def load_run(path: Path) -> RunSample:
    files = RunFiles(path)
    meta = read_meta(files)
    warnings: list[str] = []
    scenario = _scenario(files)
    table = read_requests(files, COLUMNS, warnings)
    if table is None or table.num_rows == 0:
        raise RunFolderError(f"{files.requests}: no request rows; a run without requests cannot be compared")
    cols = {c: table.column(c).to_numpy(zero_copy_only=False) if c in table.column_names else None for c in COLUMNS}
    t = cols["t_intended_s"].astype(float)
    order = np.argsort(t, kind="stable")
    sort = (lambda a: a[order]) if np.any(order[1:] < order[:-1]) else (lambda a: a)
    nan = np.full(len(t), np.nan)

    def floats(name: str) -> np.ndarray:
        return nan if cols[name] is None else sort(cols[name].astype(float))

    events = read_events(files.events, warnings)
    start, duration = _load_window(events, t, scenario)
    slos = scenario.get("slos") or {}
    limits = [parse(m, e if isinstance(e, str) else e.get("threshold", "")) for m, exprs in slos.items()
              for e in exprs]  # fmt: skip
    latency_limits = [x.limit for x in limits if x.metric == "latency_ms" and x.phase is None and x.op in ("<", "<=")]
    if not meta.get("complete", False):
        warnings.append(f"run {meta.get('run_id')} is incomplete (interrupted or failed: {meta.get('error')})")
    summary = path / "summary.json"
    if summary.exists():
        try:
            saturated = (read_json(summary).get("metrics") or {}).get("loadgen_saturated")
        except (RunFolderError, AttributeError):
            saturated = None
        if saturated:
            warnings.append(f"run {meta.get('run_id')}: the load generator was CPU-saturated; latencies are suspect")
    return RunSample(
        path=path,
        run_id=str(meta.get("run_id") or path.name),
        meta=meta,
        scenario=scenario,
        t_s=sort(t),
        latency_ms=floats("latency_ms"),
        ok=sort(cols["ok"].astype(bool)) if cols["ok"] is not None else np.ones(len(t), dtype=bool),
        ttft_ms=floats("ttft_ms"),
        itl_ms=floats("itl_mean_ms"),
        load_start_s=start,
        load_duration_s=duration,
        latency_limit_ms=min(latency_limits) if latency_limits else None,
        warnings=warnings,
    )


def _scenario(files: RunFiles) -> dict[str, Any]:
    try:
        data = yaml.safe_load(files.scenario.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{files.scenario}: missing; the run folder is damaged") from None
    except (OSError, yaml.YAMLError) as exc:
        raise RunFolderError(f"{files.scenario}: cannot be read back ({exc}); the file is damaged") from None
    if not isinstance(data, dict) or "load" not in data:
        raise RunFolderError(f"{files.scenario}: not a resolved kibench scenario; the file is damaged")
    return data


def _load_window(events: list[dict[str, Any]], t: np.ndarray, scenario: dict[str, Any]) -> tuple[float, float]:
    """(load start, planned duration) from the load_start event (the rows when it is missing)."""
    starts = [e for e in events if e.get("kind") == "load_start"]
    start = min(float(e["t_s"]) for e in starts) if starts else float(t.min())
    planned = [float(e["duration_s"]) for e in starts if e.get("duration_s")]
    ends = [float(e["t_s"]) for e in events if e.get("kind") == "load_end"]
    end = max(ends) if ends else float(t.max())
    duration = min(planned[0], end - start) if planned else end - start
    return start, max(duration, 0.0)


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out or {prefix: {}}
    if isinstance(obj, list):
        out = {}
        for i, value in enumerate(obj):
            out.update(_flatten(value, f"{prefix}[{i}]"))
        return out or {prefix: []}
    return {prefix: obj}


def differences(a: RunSample, b: RunSample, allowed: list[str]) -> list[str]:
    """What differs between two runs that makes them incomparable, one phrase each."""
    out = []
    if a.meta.get("schema_version") != b.meta.get("schema_version"):
        out.append(f"schema_version {a.meta.get('schema_version')} vs {b.meta.get('schema_version')}")
    if a.meta.get("platform") != b.meta.get("platform"):
        out.append(f"workload: platform {a.meta.get('platform')} vs {b.meta.get('platform')}")
    fa = {k: v for k, v in _flatten(a.scenario).items() if k.split(".")[0].split("[")[0] not in _IGNORED_KEYS}
    fb = {k: v for k, v in _flatten(b.scenario).items() if k.split(".")[0].split("[")[0] not in _IGNORED_KEYS}
    for key in sorted(set(fa) | set(fb)):
        if fa.get(key, "<unset>") == fb.get(key, "<unset>") or _allowed(key, allowed):
            continue
        kind = "workload" if key.split(".")[0].split("[")[0] in WORKLOAD_KEYS else "scenario"
        out.append(f"{kind}: {key} {_short(fa.get(key, '<unset>'))} vs {_short(fb.get(key, '<unset>'))}")
    return out


def _allowed(key: str, allowed: list[str]) -> bool:
    return any(key == p or key.startswith(p + ".") or key.startswith(p + "[") for p in allowed)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_alike(baseline: list[RunSample], candidate: list[RunSample], allowed: list[str]) -> list[str]:
    """Refuse unlike runs (UnlikeRunsError naming the differences); return environment warnings."""
    ref = baseline[0]
    problems = []
    for run in [*baseline[1:], *candidate]:
        diffs = differences(ref, run, allowed)
        if diffs:
            shown = "; ".join(diffs[:8]) + (f"; and {len(diffs) - 8} more" if len(diffs) > 8 else "")
            problems.append(f"{ref.run_id} vs {run.run_id}: {shown}")
    if problems:
        raise UnlikeRunsError(
            "runs differ, so they cannot be compared: " + " | ".join(problems) + ". Compare runs of one resolved "
            "scenario and workload, or let a scenario field differ on purpose with --allow-diff FIELD"
        )
    warnings = []
    for run in [*baseline[1:], *candidate]:
        env_a, env_b = ref.meta.get("environment") or {}, run.meta.get("environment") or {}
        changed = [f"{k} {env_a.get(k)} vs {env_b.get(k)}" for k in _ENV_KEYS if env_a.get(k) != env_b.get(k)]
        if changed:
            warnings.append(f"environment differs ({ref.run_id} vs {run.run_id}): " + ", ".join(changed))
    return warnings
