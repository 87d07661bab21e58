"""Where to probe next: bracket by doubling, then refine at the fitted root, until the bracket is narrow.

In: ``SearchSettings``, the calibration burst's rate and the bracket/refine ``ProbeRecord``s so far.  Out:
the next rate to probe, or None when the search is done (bracket within ``bracket_pct`` or ``max_probes``
used); ``NoRateMeetsSlo`` when even ``min_rate_rps`` fails.  Pure: no I/O, no clock.

- Bracket: the first probe runs at ``start_fraction`` x the burst's rate; each passing probe doubles it
  until one fails (a failing first probe halves instead, until one passes).
- Refine: last passing L and first failing H (the lowest failing rate; passing rates above it are noise and
  ignored, which keeps the answer safe).  For each SLO the margins are fitted (fit.py); the lowest root in
  [L, H] is the next rate, kept 10 % of the bracket away from its ends.  When the root is within
  ``bracket_pct`` of an end, the probe goes just inside that distance of it, so that one probe can close the
  bracket.  It bisects instead when no SLO's fit crosses zero in the bracket (the failure was a rule's:
  over-saturation, a shortfall) or when the last two probes moved the same end of the bracket (a root that
  keeps landing on one side, as regula falsi's does, would otherwise creep by ``bracket_pct`` a probe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.capacity.fit import fit, root
from harness.capacity.margins import score
from harness.capacity.model import ProbeRecord
from harness.errors import InputError


class NoRateMeetsSlo(InputError):
    """Even the lowest rate tried misses an SLO: no number of replicas can meet it (exit 2)."""


@dataclass(frozen=True)
class SearchSettings:
    start_fraction: float = 0.25
    bracket_pct: float = 5.0
    max_probes: int = 12
    min_rate_rps: float = 0.05


@dataclass(frozen=True)
class Bracket:
    last_pass: ProbeRecord | None
    first_fail: ProbeRecord | None

    @property
    def width(self) -> float | None:
        """first failing / last passing - 1 (None until both exist)."""
        if self.last_pass is None or self.first_fail is None:
            return None
        return self.first_fail.rate_rps / self.last_pass.rate_rps - 1.0


def bracket(probes: Sequence[ProbeRecord]) -> Bracket:
    """Last passing below the first failing rate (see the module docstring)."""
    fails = [p for p in probes if not p.passed]
    first_fail = min(fails, key=lambda p: p.rate_rps) if fails else None
    limit = first_fail.rate_rps if first_fail else float("inf")
    passes = [p for p in probes if p.passed and p.rate_rps < limit]
    last_pass = max(passes, key=lambda p: p.rate_rps) if passes else None
    return Bracket(last_pass, first_fail)


def converged(settings: SearchSettings, b: Bracket) -> bool:
    width = b.width
    return width is not None and width <= settings.bracket_pct / 100.0 + 1e-9


def predicted_root(probes: Sequence[ProbeRecord], lo: float, hi: float) -> tuple[float | None, str | None]:
    """The lowest root of any SLO's fitted margin in [lo, hi], and that SLO's key."""
    keys = sorted({k for p in probes for k in p.margins})
    best: tuple[float | None, str | None] = (None, None)
    for key in keys:
        curve = fit([p.rate_rps for p in probes], [score(p.margins.get(key)) for p in probes])  # type: ignore[misc]
        r = None if curve is None else root(curve, lo, hi)
        if r is not None and (best[0] is None or r < best[0]):
            best = (r, key)
    return best


def next_rate(settings: SearchSettings, raw_rps: float, probes: Sequence[ProbeRecord]) -> float | None:
    """The next probe's rate, or None when the search is done."""
    if not probes:
        return max(settings.start_fraction * raw_rps, settings.min_rate_rps)
    if len(probes) >= settings.max_probes:
        return None
    b = bracket(probes)
    if b.first_fail is None:  # still bracketing upwards
        return 2.0 * max(p.rate_rps for p in probes)
    if b.last_pass is None:  # everything so far failed: halve
        rate = min(p.rate_rps for p in probes) / 2.0
        if rate < settings.min_rate_rps:
            lowest = min(probes, key=lambda p: p.rate_rps)
            why = "; ".join(lowest.reasons) or "it failed"
            raise NoRateMeetsSlo(
                f"no rate meets the SLOs: the lowest probe ({lowest.rate_rps:g} rps) failed ({why}); loosen the "
                f"SLO or lower capacity.min_rate_rps (now {settings.min_rate_rps:g}); probes are kept"
            )
        return rate
    if converged(settings, b):
        return None
    return refine_rate(settings, probes, b.last_pass.rate_rps, b.first_fail.rate_rps)


def refine_rate(settings: SearchSettings, probes: Sequence[ProbeRecord], lo: float, hi: float) -> float:
    """The next rate inside (lo, hi): the fitted root, guarded (see the module docstring)."""
    width = settings.bracket_pct / 100.0
    guess, _ = predicted_root(probes, lo, hi)
    if guess is None or (len(probes) >= 2 and probes[-1].passed == probes[-2].passed):
        guess = (lo + hi) / 2.0  # no root, or the same end moved twice in a row: bisect (the Illinois guard)
    guess = min(max(guess, lo + 0.1 * (hi - lo)), hi - 0.1 * (hi - lo))
    up, down = lo * (1 + 0.9 * width), hi / (1 + 0.9 * width)  # one probe there closes the bracket
    if guess < lo * (1 + width) and (guess <= hi / (1 + width) or guess - lo < hi - guess):
        return up
    if guess > hi / (1 + width):
        return down
    return guess
