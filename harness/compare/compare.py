"""``kibench compare``: is the candidate worse than the baseline, beyond a margin, with 95 % confidence?

In: the baseline and candidate sides (``RunSample`` lists; one run each, or repeats) and ``Settings``.
Out: the result dict written as ``compare.json``: per metric the baseline and candidate values, the
estimate (candidate / baseline, or the difference of error rates), its 95 % interval from a circular
block bootstrap over steady-state windows (``windows.py``, ``bootstrap.py``; 2,000 seeded resamples,
hierarchical over runs when there are repeats) and a verdict against the metric's margin:

* REGRESSION: the interval lies wholly beyond the margin on the worse side;
* IMPROVEMENT: wholly beyond it on the better side;
* EQUIVALENT: wholly inside ±margin;
* INCONCLUSIVE: anything else (the data cannot tell at this margin).

Default margins: latency p50/p95 5 %, p99 10 % (TTFT and inter-token gap likewise), throughput and
goodput 3 %, error rate 0.5 percentage points.  The overall verdict is REGRESSION if any metric regressed,
else INCONCLUSIVE if any is, else IMPROVEMENT if any improved, else EQUIVALENT; the exit code is 1 on a
regression (and on INCONCLUSIVE with ``strict``), else 0.  No test is ever run on raw requests.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.compare.bootstrap import block_length, resample_counts
from harness.compare.sides import RunSample, check_alike
from harness.compare.windows import (
    DEFAULT_WINDOW_S,
    MIN_WINDOW_S,
    MIN_WINDOWS,
    TREND_METRICS,
    Bins,
    Windows,
    build_windows,
    count_windows,
    steady_range,
    streamed,
)
from harness.errors import EXIT_OK, EXIT_SLO_FAILED, InputError
from harness.model import SCHEMA_VERSION, default_warmup_s

CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 2000
VERDICTS = ("REGRESSION", "IMPROVEMENT", "EQUIVALENT", "INCONCLUSIVE")
_QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def default_margins(with_streaming: bool = True) -> dict[str, float]:
    out = {}
    for metric in TREND_METRICS if with_streaming else ("latency_ms",):
        out.update({f"{metric}.p50": 0.05, f"{metric}.p95": 0.05, f"{metric}.p99": 0.10})
    out.update({"throughput_rps": 0.03, "goodput_rps": 0.03, "error_rate": 0.005})
    return out


_MARGIN = re.compile(r"^\s*(?P<key>[a-z_]+(?:\.p\d+)?)\s*=\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<pct>%|pt|pp)?\s*$")


def parse_margin(text: str) -> tuple[str, float]:
    """``latency_ms.p95=5%`` → ('latency_ms.p95', 0.05); ``error_rate=0.5%`` (or 0.5pt) → 0.005."""
    match = _MARGIN.match(text)
    known = default_margins()
    if not match or match["key"] not in known:
        raise InputError(
            f"--margin {text!r}: write METRIC=N% with METRIC one of {', '.join(known)} (e.g. latency_ms.p95=5%, "
            "error_rate=0.5%: half a percentage point)"
        )
    value = float(match["num"])
    return match["key"], value / 100.0 if match["pct"] else value


@dataclass(frozen=True)
class Settings:
    margins: dict[str, float] = field(default_factory=dict)  # overrides of default_margins()
    strict: bool = False
    window_s: float | None = None  # None: 10 s, shorter when a run has fewer than 6 such windows
    warmup_s: float | None = None  # None: harness.model.default_warmup_s of the shortest load
    resamples: int = DEFAULT_RESAMPLES
    seed: int = 0
    allow_diff: tuple[str, ...] = ()


def compare_samples(baseline: list[RunSample], candidate: list[RunSample], settings: Settings) -> dict[str, Any]:
    """The comparison of two sides already loaded (see the module docstring)."""
    warnings = check_alike(baseline, candidate, list(settings.allow_diff))
    for run in [*baseline, *candidate]:
        warnings.extend(run.warnings)
    runs = [*baseline, *candidate]
    warmup = settings.warmup_s
    if warmup is None:
        warmup = default_warmup_s(min(r.load_duration_s for r in runs))
    window, note = _window(runs, warmup, settings.window_s)
    if note:
        warnings.append(note)
    trends = [m for m in TREND_METRICS if m == "latency_ms" or streamed(runs)]
    bins = {m: Bins.covering([_trend(r, m) for r in runs]) for m in trends}
    sides = {"baseline": build_windows(baseline, warmup, window, bins),
             "candidate": build_windows(candidate, warmup, window, bins)}  # fmt: skip
    block = _block_length(sides, bins)
    counts = {name: resample_counts(w.per_run, block, settings.resamples, np.random.default_rng([settings.seed, i]))
              for i, (name, w) in enumerate(sides.items())}  # fmt: skip
    margins = {**default_margins(), **settings.margins}
    metrics = [_trend_metric(sides, counts, bins[m], m, p, margins) for m in trends for p in _QUANTILES]
    metrics += [_rate_metric(sides, counts, name, margins) for name in ("throughput_rps", "goodput_rps", "error_rate")]
    verdict = _overall([m["verdict"] for m in metrics])
    failed = verdict == "REGRESSION" or (settings.strict and verdict == "INCONCLUSIVE")
    hierarchical = len(baseline) > 1 or len(candidate) > 1
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "kibench-compare",
        "scenario": baseline[0].scenario.get("name"),
        "verdict": verdict,
        "exit_code": EXIT_SLO_FAILED if failed else EXIT_OK,
        "strict": settings.strict,
        "baseline": _side_json(baseline, sides["baseline"]),
        "candidate": _side_json(candidate, sides["candidate"]),
        "method": {
            "samples": "steady-state windows by intended send time (never single requests)",
            "window_s": round(window, 3),
            "warmup_s": round(warmup, 3),
            "bootstrap": "circular block bootstrap over windows" + (", hierarchical over runs" if hierarchical else ""),
            "block_length_windows": block,
            "block_length_rule": "Politis-White (2004, 2009 correction), max over series and runs, >= n^(1/3)",
            "resamples": settings.resamples,
            "seed": settings.seed,
            "confidence": CONFIDENCE,
            "interval": "percentile",
            "allowed_differences": list(settings.allow_diff),
        },
        "metrics": metrics,
        "distributions": {m: {name: dict(zip(("x", "f"), bins[m].cdf(w.hist[m].sum(axis=0)), strict=True))
                              for name, w in sides.items()} for m in trends},  # fmt: skip
        "warnings": warnings,
    }


def _trend(run: RunSample, metric: str) -> np.ndarray:
    return {"latency_ms": run.latency_ms, "ttft_ms": run.ttft_ms, "itl_ms": run.itl_ms}[metric]


def _window(runs: list[RunSample], warmup: float, asked: float | None) -> tuple[float, str | None]:
    """The window length and, when it had to shrink below 10 s, a note saying so."""
    shortest = min(steady_range(r, warmup)[1] - steady_range(r, warmup)[0] for r in runs)
    if asked is not None:
        window, note = asked, None
    elif shortest >= MIN_WINDOWS * DEFAULT_WINDOW_S:
        window, note = DEFAULT_WINDOW_S, None
    else:
        window = max(MIN_WINDOW_S, math.floor(shortest / MIN_WINDOWS * 10) / 10)
        note = (f"windows of {window:g} s instead of {DEFAULT_WINDOW_S:g} s: the shortest run has "
                f"{shortest:.1f} s of steady state")
    for run in runs:
        n = count_windows(run, warmup, window)
        if n < MIN_WINDOWS:
            raise InputError(
                f"run {run.run_id} has {n} steady-state windows of {window:g} s after a {warmup:g} s warm-up; "
                f"compare needs at least {MIN_WINDOWS}: lengthen the load, or pass a shorter --window / --warmup"
            )
    return window, note


def _block_length(sides: dict[str, Windows], bins: dict[str, Bins]) -> int:
    """The largest Politis-White block length over each run's per-window series (mean, p95, errors)."""
    best = 1.0
    for w in sides.values():
        start = 0
        for n in w.per_run:
            cut = slice(start, start + n)
            start += n
            req = np.maximum(w.requests[cut], 1.0)
            series = [w.failed[cut] / req, w.requests[cut]]
            hist = w.hist["latency_ms"][cut]
            series.append(np.log(np.maximum(bins["latency_ms"].quantiles(hist, 0.95), 1e-9)))
            series.append(np.log(np.maximum(bins["latency_ms"].quantiles(hist, 0.50), 1e-9)))
            best = max(best, *(block_length(s) for s in series))
    shortest = min(min(w.per_run) for w in sides.values())
    # Politis-White minimises the MSE of the variance estimate, which for a few dozen windows leaves the
    # interval short (the blocks cut the autocorrelation); n^(1/3) windows at least keeps A/A coverage near 95%.
    return max(1, min(max(math.ceil(best), math.ceil(shortest ** (1 / 3))), shortest))


def _interval(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size < len(values) * 0.99 or finite.size == 0:
        return math.nan, math.nan
    tail = (1 - CONFIDENCE) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return float(lo), float(hi)


def _trend_metric(sides: dict[str, Windows], counts: dict[str, np.ndarray], bins: Bins, metric: str, stat: str,
                  margins: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    q = _QUANTILES[stat]
    point, boot, hist_point = {}, {}, {}
    for name, w in sides.items():
        values = w.exact[metric]
        point[name] = float(np.percentile(values, q * 100)) if values.size else math.nan
        hist_point[name] = float(bins.quantiles(w.hist[metric].sum(axis=0), q)[0])
        boot[name] = bins.quantiles(counts[name] @ w.hist[metric], q)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = point["candidate"] / point["baseline"]
        binned = hist_point["candidate"] / hist_point["baseline"]
        ratios = boot["candidate"] / boot["baseline"] * (estimate / binned)  # binning bias removed
    lo, hi = _interval(ratios)
    return _metric(f"{metric}.{stat}", "ratio", "lower", point, estimate, lo, hi, margins)


def _rate_metric(sides: dict[str, Windows], counts: dict[str, np.ndarray], name: str,
                 margins: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    point, boot = {}, {}
    for side, w in sides.items():
        c = counts[side]
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "error_rate":
                point[side] = float(w.failed.sum() / max(w.requests.sum(), 1.0))
                boot[side] = (c @ w.failed) / (c @ w.requests)
            else:
                numerator = w.requests if name == "throughput_rps" else w.good
                point[side] = float(numerator.sum() / (len(numerator) * w.window_s))
                boot[side] = (c @ numerator) / (c.sum(axis=1) * w.window_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "error_rate":
            estimate = point["candidate"] - point["baseline"]
            lo, hi = _interval(boot["candidate"] - boot["baseline"])
            return _metric(name, "difference", "lower", point, estimate, lo, hi, margins)
        estimate = point["candidate"] / point["baseline"] if point["baseline"] else math.nan
        lo, hi = _interval(boot["candidate"] / boot["baseline"])
    return _metric(name, "ratio", "higher", point, estimate, lo, hi, margins)


def verdict(kind: str, better: str, lo: float, hi: float, margin: float) -> str:
    """REGRESSION / IMPROVEMENT / EQUIVALENT / INCONCLUSIVE for an interval [lo, hi] and a margin."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return "INCONCLUSIVE"
    center = 1.0 if kind == "ratio" else 0.0
    up, down = center + margin, center - margin
    worse = lo > up if better == "lower" else hi < down
    improved = hi < down if better == "lower" else lo > up
    if worse:
        return "REGRESSION"
    if improved:
        return "IMPROVEMENT"
    if lo >= down and hi <= up:
        return "EQUIVALENT"
    return "INCONCLUSIVE"


def _metric(name: str, kind: str, better: str, point: dict[str, float], estimate: float, lo: float, hi: float,
            margins: dict[str, float]) -> dict[str, Any]:  # fmt: skip
    margin = margins[name]
    result = verdict(kind, better, lo, hi, margin)
    if kind == "ratio":
        change = f"{_pct(estimate - 1)} [{_pct(lo - 1)}, {_pct(hi - 1)}]"
        margin_label = f"{margin * 100:g}%"
    else:
        change = f"{_pt(estimate)} [{_pt(lo)}, {_pt(hi)}]"
        margin_label = f"{margin * 100:g} pt"
    what = "candidate / baseline" if kind == "ratio" else "candidate - baseline"
    where = {"REGRESSION": f"wholly beyond the margin on the worse side ({better} is better)",
             "IMPROVEMENT": "wholly beyond the margin on the better side",
             "EQUIVALENT": f"wholly inside ±{margin_label}",
             "INCONCLUSIVE": f"not decided at ±{margin_label}: the interval crosses the margin"}[result]  # fmt: skip
    return {
        "name": name,
        "kind": kind,
        "better": better,
        "baseline": _round(point["baseline"]),
        "candidate": _round(point["candidate"]),
        "estimate": _round(estimate),
        "ci": [_round(lo), _round(hi)],
        "margin": margin,
        "margin_label": margin_label,
        "change_label": change,
        "verdict": result,
        "statement": f"{what} {_round(estimate)} (95% CI {_round(lo)} to {_round(hi)}), {where}",
    }


def _overall(verdicts: list[str]) -> str:
    for v in ("REGRESSION", "INCONCLUSIVE", "IMPROVEMENT"):
        if v in verdicts:
            return v
    return "EQUIVALENT"


def _side_json(runs: list[RunSample], windows: Windows) -> dict[str, Any]:
    return {"run_ids": [r.run_id for r in runs], "paths": [str(r.path) for r in runs],
            "windows": windows.per_run, "requests_in_windows": int(windows.requests.sum())}  # fmt: skip


def _round(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x * 100:+.1f}%"


def _pt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x * 100:+.2f} pt"


__all__ = ["Settings", "compare_samples", "default_margins", "parse_margin", "verdict"]
