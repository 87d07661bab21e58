"""The capacity search's plots (matplotlib, Agg backend), written next to capacity.json.

In: the probes, the ``Boundary`` and the plan (as written to capacity.json).  Out: PNG paths:
``latency_vs_rate.png`` (latency p50/p95/p99 per probe with the latency SLO lines), ``margins.png`` (each
SLO's margin per probe with its isotonic + PCHIP fit), ``goodput_vs_rate.png`` (throughput and goodput
against the offered rate) and, with a trace, ``replicas_over_trace.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from harness.capacity.fit import fit  # noqa: E402
from harness.capacity.margins import score  # noqa: E402
from harness.capacity.model import Boundary, ProbeRecord  # noqa: E402


def _mark(ax: Any, boundary: Boundary | None) -> None:
    if boundary is None:
        return
    if boundary.found_rps:
        ax.axvline(boundary.found_rps, color="tab:green", ls="--", lw=1, label=f"found {boundary.found_rps:.4g} rps")
    if boundary.first_failing_rps:
        ax.axvline(boundary.first_failing_rps, color="tab:red", ls=":", lw=1, label="first failing")


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_plots(
    folder: Path, probes: list[ProbeRecord], boundary: Boundary | None, plan: dict[str, Any] | None
) -> list[Path]:
    open_probes = sorted((p for p in probes if p.kind != "calibrate"), key=lambda p: p.rate_rps)
    out: list[Path] = []
    if open_probes:
        out += [
            _latency(folder, open_probes, boundary),
            _margins(folder, open_probes, boundary),
            _goodput(folder, open_probes, boundary),
        ]
    if plan and "trace" in plan:
        out.append(_trace(folder, plan))
    return out


def _latency(folder: Path, probes: list[ProbeRecord], boundary: Boundary | None) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    rates = [p.rate_rps for p in probes]
    for q, attr in (("p50", "latency_p50_ms"), ("p95", "latency_p95_ms"), ("p99", "latency_p99_ms")):
        ax.plot(rates, [getattr(p, attr) or np.nan for p in probes], "o-", ms=4, label=f"latency {q}")
    for key, value in probes[0].values.items():
        if key.startswith("latency_ms") and value is not None:
            m = probes[0].margins.get(key)
            limit = value / (1 + m) if m is not None and m > -1 else None
            if limit:
                ax.axhline(limit, color="k", ls="-.", lw=1, label=f"SLO {key} {limit:g} ms")
    _mark(ax, boundary)
    ax.set(xlabel="offered rate (rps)", ylabel="latency (ms)", yscale="log", title="Latency against offered rate")
    ax.legend(fontsize=7)
    return _save(fig, folder / "latency_vs_rate.png")


def _margins(folder: Path, probes: list[ProbeRecord], boundary: Boundary | None) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    rates = np.array([p.rate_rps for p in probes])
    for key in sorted({k for p in probes for k in p.margins}):
        s = [score(p.margins.get(key)) for p in probes]
        pts = [(r, v) for r, v in zip(rates, s, strict=True) if v is not None]
        if not pts:
            continue
        line = ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", ms=4, label=key)[0]
        curve = fit([p[0] for p in pts], [p[1] for p in pts])
        if curve is not None and curve.curve is not None:
            grid = np.linspace(curve.rates[0], curve.rates[-1], 200)
            ax.plot(grid, curve(grid), "-", color=line.get_color(), lw=1)
    ax.axhline(0, color="k", lw=1)
    _mark(ax, boundary)
    ax.set(
        xlabel="offered rate (rps)",
        ylabel="log(observed / limit)  (< 0: inside)",
        title="SLO margins with the isotonic + PCHIP fit",
    )
    if ax.get_legend_handles_labels()[0]:  # probes with no SLO margins (a curve for the simulator) have none
        ax.legend(fontsize=7)
    return _save(fig, folder / "margins.png")


def _goodput(folder: Path, probes: list[ProbeRecord], boundary: Boundary | None) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    rates = [p.rate_rps for p in probes]
    ax.plot(rates, rates, color="0.7", lw=1, label="offered")
    ax.plot(rates, [p.throughput_rps or 0 for p in probes], "o-", ms=4, label="throughput")
    ax.plot(rates, [p.goodput_rps or 0 for p in probes], "s-", ms=4, label="goodput (within the latency SLO)")
    _mark(ax, boundary)
    ax.set(xlabel="offered rate (rps)", ylabel="rps", title="Throughput and goodput against offered rate")
    ax.legend(fontsize=7)
    return _save(fig, folder / "goodput_vs_rate.png")


def _trace(folder: Path, plan: dict[str, Any]) -> Path:
    rows = plan["trace"]["rows"]
    t = np.array([r["time_s"] for r in rows], dtype=float) / 3600.0
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.step(t, [r["replicas"] for r in rows], where="post", label="replicas (with failure and lag headroom)")
    ax.step(t, [r["base_replicas"] for r in rows], where="post", ls="--", label="replicas for the rate alone")
    ax2 = ax.twinx()
    ax2.plot(t, [r["rate_rps"] for r in rows], color="tab:gray", lw=1, label="trace rate")
    ax2.set_ylabel("rate (rps)")
    ax.set(xlabel="time (h)", ylabel="replicas", title="Replicas over the trace")
    ax.legend(fontsize=7, loc="upper left")
    return _save(fig, folder / "replicas_over_trace.png")
