"""Confirm the found rate: a ladder of confirm rates, each a block-bootstrap interval of each SLO's margin over
repeated probes.

In: per confirm rate, the blocks of its repeats (each block: the request columns of one window of one
probe, consecutive requests kept together because queues carry over between them), the thresholds and a
``value_fn(threshold, rows) -> value`` (the analysis stage's own aggregation, injected by the caller).
Out: per SLO the (2.5 %, 97.5 %) percentile interval of the margin over ``resamples`` draws of blocks with
replacement; a rate is confirmed when every upper bound is below 0 (strictly inside every SLO) and the
failure rules hold over the repeats pooled (``pooled_failures``).  ``ladder`` picks the rates (the found
one, a step below, further steps, then bisections) given a ``judge(rate) -> Rung`` that runs the repeats;
``Rung.answer_rps`` credits the replica with no more than its repeats served.  Also: ``boundary_shape``,
cliff or slope.

Why pooled: with random (Poisson) arrivals near capacity the queue wanders like a random walk over a probe,
so one probe's achieved ratio (1 - the change of the backlog / arrivals) and its over-saturation slopes are
noisy: at 97 % of a classic batching replica's throughput one 1,500-request probe fails a rule 13 % of the
time, at 99 % 28 %; requiring all of three repeats to pass then rejects a sustainable rate a third to two
thirds of the time, and the answer steps down by ``confirm_step_pct`` on a coin toss.  Pooled (the achieved
ratio weighted by requests, over-saturation in more than half) the three repeats pass 95 % of the time at
97 % and 3 % at 105 % (measured before the confirm's ladder; docs/capacity.md#accuracy has its figures).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.capacity.margins import margin, score
from harness.capacity.model import ProbeRecord
from harness.thresholds import Threshold

Block = dict[str, np.ndarray]
ValueFn = Callable[[Threshold, dict[str, Any]], float | None]


def margin_intervals(
    blocks: Sequence[Block], thresholds: Sequence[Threshold], value_fn: ValueFn, resamples: int, seed: int
) -> dict[str, tuple[float, float]]:
    """Per threshold key, the bootstrap (2.5 %, 97.5 %) interval of the margin (inf when no data)."""
    blocks = [b for b in blocks if b and len(next(iter(b.values()))) > 0]
    out: dict[str, tuple[float, float]] = {}
    if not blocks:
        return {t.key: (float("inf"), float("inf")) for t in thresholds}
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(blocks), size=(resamples, len(blocks)))
    columns = list(blocks[0])
    for th in thresholds:
        values = []
        for row in draws:
            rows = {c: np.concatenate([blocks[i][c] for i in row]) for c in columns}
            m = margin(th, value_fn(th, rows))
            values.append(np.inf if m is None else m)
        lo, hi = np.percentile(np.array(values, dtype=float), [2.5, 97.5])
        out[th.key] = (float(lo), float(hi))
    return out


def served_share(records: Sequence[ProbeRecord]) -> float | None:
    """The achieved ratio of several probes pooled: weighted by their requests (None when none has one)."""
    known = [(p.achieved_ratio, max(p.requests, 1)) for p in records if p.achieved_ratio is not None]
    return sum(r * n for r, n in known) / sum(n for _, n in known) if known else None


def pooled_failures(records: Sequence[ProbeRecord], min_achieved: float) -> list[str]:
    """The failure rules judged on several probes at one rate together: the achieved ratio weighted by their
    requests under ``min_achieved``, over-saturation in more than half of them, the load generator saturated
    in any.  Returns the reasons (empty: the rules hold)."""
    reasons = []
    pooled = served_share(records)
    if pooled is None or any(p.achieved_ratio is None for p in records) or pooled < min_achieved:
        shown = "no data" if pooled is None else f"{pooled:.4g}"
        reasons.append(f"achieved {shown} of the requested rate over {len(records)} probes (< {min_achieved:g})")
    over = sum(p.oversaturated for p in records)
    if 2 * over > len(records):
        reasons.append(f"over-saturated in {over} of {len(records)} probes")
    if any(p.loadgen_saturated for p in records):
        reasons.append("the load generator saturated (its numbers are suspect)")
    return reasons


def confirmed(
    intervals: dict[str, tuple[float, float]], repeats: Sequence[ProbeRecord], min_achieved: float = 0.98
) -> bool:
    """Every SLO's upper margin bound is below 0 and the failure rules hold over the repeats pooled."""
    return bool(repeats) and not pooled_failures(repeats, min_achieved) and all(hi < 0 for _, hi in intervals.values())


@dataclass(frozen=True)
class Rung:
    """One confirm rate: its repeats, each SLO's margin interval over them, and whether they confirm it."""

    rate_rps: float
    repeats: tuple[ProbeRecord, ...]
    intervals: dict[str, tuple[float, float]]
    held: bool

    @property
    def answer_rps(self) -> float:
        """The rate, times the share of it the repeats served when under 1: never more than was served."""
        return self.rate_rps * min(served_share(self.repeats) or 1.0, 1.0)


def ladder(
    found_rps: float, step_pct: float, extra_steps: int, bisections: int, judge: Callable[[float, int], Rung]
) -> tuple[Rung | None, list[Rung]]:
    """The confirm's rungs, each judged by ``judge(rate, n)`` (n: the rung's number, a bootstrap seed).

    The found rate and ``step_pct`` below it (both, always); when neither holds, up to ``extra_steps``
    further steps down until one does; then ``bisections`` rungs halve the gap between the highest rate
    that held and the lowest that failed above it.  Returns the highest rung that held (None: none did)
    and every rung in the order judged."""
    step = step_pct / 100
    rungs = [judge(found_rps, 0), judge(found_rps * (1 - step), 1)]
    for n in range(2, 2 + extra_steps):
        if any(r.held for r in rungs):
            break
        rungs.append(judge(found_rps * (1 - n * step), n))
    best = max((r for r in rungs if r.held), key=lambda r: r.rate_rps, default=None)
    failed_above = [r.rate_rps for r in rungs if best is not None and not r.held and r.rate_rps > best.rate_rps]
    if best is not None and failed_above:
        bad = min(failed_above)
        for n in range(bisections):
            rung = judge((best.rate_rps + bad) / 2, 2 + extra_steps + n)
            rungs.append(rung)
            best, bad = (rung, bad) if rung.held else (best, rung.rate_rps)
    return best, rungs


def boundary_shape(probes: Sequence[ProbeRecord], key: str | None, lo: ProbeRecord, hi: ProbeRecord) -> str:
    """``cliff`` when the first failing probe failed for no SLO's margin (over-saturation, a shortfall, the
    generator) or the binding SLO's log margin rises over the last bracket at least 5x faster than on
    average below it; else ``slope``."""
    if key is None:
        return "cliff"
    m_hi, m_lo = hi.margins.get(key), lo.margins.get(key)
    if m_hi is None or m_lo is None or m_hi <= 0:
        return "cliff"
    below = [p for p in probes if p.rate_rps < lo.rate_rps and p.margins.get(key) is not None]
    s_hi, s_lo = score(m_hi), score(m_lo)
    assert s_hi is not None and s_lo is not None
    last = (s_hi - s_lo) / max(hi.rate_rps - lo.rate_rps, 1e-12)
    if not below:
        return "slope"
    first = min(below, key=lambda p: p.rate_rps)
    s_first = score(first.margins[key])
    assert s_first is not None
    mean = (s_lo - s_first) / max(lo.rate_rps - first.rate_rps, 1e-12)
    return "cliff" if last >= 5 * max(mean, 1e-12) else "slope"
