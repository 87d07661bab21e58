"""The search's pure parts on synthetic services whose capacity is known: bracket, refine, fit, margins."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from harness.capacity import ProbeRecord, SearchSettings, bracket, next_rate
from harness.capacity.confirm import Rung, boundary_shape, confirmed, ladder, margin_intervals, pooled_failures
from harness.capacity.fit import fit, root
from harness.capacity.margins import achieved_ratio, margin, oversaturated
from harness.capacity.search import NoRateMeetsSlo, predicted_root
from harness.errors import EXIT_BAD_INPUT
from harness.thresholds import parse

P95 = parse("latency_ms", "p(95) < 500")


def slope_service(capacity: float, base_ms: float = 100.0):
    """p95 grows like an M/D/1 queue's (base / (1 - rho)): a slope that crosses 500 ms below capacity."""

    def p95(rate: float) -> float:
        rho = rate / capacity
        return base_ms / (1 - rho) if rho < 1 else 1e5

    return p95


def cliff_service(capacity: float):
    """Flat latency until the capacity, then a wall (a batching service under an open model)."""
    return lambda rate: 150.0 if rate < capacity else 5000.0


def probe(i: int, rate: float, p95_ms: float, kind: str = "bracket") -> ProbeRecord:
    m = margin(P95, p95_ms)
    return ProbeRecord(i, kind, rate, f"p{i}", passed=p95_ms < 500, margins={P95.key: m}, values={P95.key: p95_ms})


def search(service, raw: float, settings: SearchSettings = SearchSettings()) -> list[ProbeRecord]:
    probes: list[ProbeRecord] = []
    while (rate := next_rate(settings, raw, probes)) is not None:
        probes.append(probe(len(probes) + 1, rate, service(rate)))
    return probes


@pytest.mark.parametrize("capacity", [7.3, 100.0, 2142.0])
@pytest.mark.parametrize("raw_share", [0.6, 1.0, 1.7])
def test_cliff_found_within_the_bracket_in_at_most_12_probes(capacity: float, raw_share: float) -> None:
    probes = search(cliff_service(capacity), raw=capacity * raw_share)
    b = bracket(probes)
    assert b.last_pass is not None and b.first_fail is not None
    assert 0.95 <= b.last_pass.rate_rps / capacity < 1.0
    assert b.first_fail.rate_rps >= capacity
    assert b.first_fail.rate_rps / b.last_pass.rate_rps - 1 <= 0.05 + 1e-9
    assert len(probes) <= 12


@pytest.mark.parametrize("capacity", [10.0, 300.0])
def test_slope_root_is_where_the_slo_is_crossed(capacity: float) -> None:
    service = slope_service(capacity)
    true = capacity * (1 - 100.0 / 500.0)  # p95 = 500 ms at rho = 0.8
    probes = search(service, raw=capacity)
    b = bracket(probes)
    assert b.last_pass is not None and b.first_fail is not None
    assert 0.95 <= b.last_pass.rate_rps / true <= 1.0
    assert len(probes) <= 10
    assert boundary_shape(probes, P95.key, b.last_pass, b.first_fail) == "slope"


def test_cliff_is_called_a_cliff() -> None:
    probes = search(cliff_service(50.0), raw=50.0)
    b = bracket(probes)
    assert boundary_shape(probes, P95.key, b.last_pass, b.first_fail) == "cliff"


def test_passing_probe_above_a_failure_is_ignored() -> None:
    probes = [probe(1, 10, 100), probe(2, 20, 900), probe(3, 25, 300)]  # 25 rps passing by luck
    b = bracket(probes)
    assert b.last_pass.rate_rps == 10 and b.first_fail.rate_rps == 20


def test_a_failing_start_halves_until_min_rate_then_says_no_rate_meets_the_slo() -> None:
    settings = SearchSettings(start_fraction=0.5, min_rate_rps=1.0)
    probes = [probe(1, 4.0, 900)]
    assert next_rate(settings, 8.0, probes) == 2.0
    probes.append(probe(2, 2.0, 900))
    assert next_rate(settings, 8.0, probes) == 1.0
    probes.append(probe(3, 1.0, 900))
    with pytest.raises(NoRateMeetsSlo) as err:
        next_rate(settings, 8.0, probes)
    assert err.value.exit_code == EXIT_BAD_INPUT
    message = str(err.value)
    assert "no rate meets the SLOs" in message and "(1 rps)" in message and "loosen the SLO" in message


def test_max_probes_ends_an_unconverged_search() -> None:
    settings = SearchSettings(max_probes=4)
    probes = search(cliff_service(1000.0), raw=10.0, settings=settings)
    assert len(probes) == 4 and bracket(probes).first_fail is None


def test_isotonic_fit_removes_a_dip_and_pchip_finds_the_root() -> None:
    rates = [10, 20, 30, 40]
    scores = [-1.0, -0.5, -0.7, 0.6]  # the dip at 30 is noise
    curve = fit(rates, scores)
    assert np.all(np.diff(curve.fitted) >= 0)
    r = root(curve, 10, 40)
    assert 30 < r < 40 and abs(float(curve(r))) < 1e-9
    assert root(fit([10, 20], [-1.0, -0.5]), 10, 20) is None


def test_predicted_root_names_the_binding_slo() -> None:
    ttft = parse("ttft_ms", "p(95) < 200")
    probes = [
        ProbeRecord(1, "bracket", 10, "a", True, margins={P95.key: -0.8, ttft.key: -0.5}),
        ProbeRecord(2, "bracket", 20, "b", False, margins={P95.key: -0.2, ttft.key: 0.5}),
    ]
    rate, key = predicted_root(probes, 10, 20)
    assert key == ttft.key and 10 < rate < 20


def test_margins_of_upper_and_lower_limits() -> None:
    assert margin(P95, 250) == pytest.approx(-0.5)
    assert margin(P95, 750) == pytest.approx(0.5)
    avail = parse("availability", "value > 0.99")
    assert margin(avail, 0.999) < 0 < margin(avail, 0.9)
    assert margin(P95, None) is None


def queue(rate: float, mu: float, duration: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A single server with deterministic service 1/mu and Poisson arrivals: (intended, done) times."""
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.exponential(1 / rate, int(rate * duration * 1.2)))
    t = t[t < duration]
    done = np.empty_like(t)
    free = 0.0
    for i, a in enumerate(t):
        free = max(free, a) + 1 / mu
        done[i] = free
    return t, done


def test_achieved_ratio_is_one_below_capacity_and_mu_over_lambda_above() -> None:
    t, done = queue(80, 100, 60)
    ok = np.ones(t.size, dtype=bool)
    assert achieved_ratio(t, done, ok, 5, 60) == pytest.approx(1.0, abs=0.02)
    t, done = queue(125, 100, 60)
    assert achieved_ratio(t, done, np.ones(t.size, dtype=bool), 5, 60) == pytest.approx(0.8, abs=0.03)
    assert achieved_ratio(t, done, np.ones(t.size, dtype=bool), 5, 60, dropped_share=0.5) < 0.45


def test_over_saturation_needs_latency_and_in_flight_to_climb() -> None:
    t, done = queue(110, 100, 30)
    assert oversaturated(t, (done - t) * 1000, 2, 30, 10)
    t, done = queue(70, 100, 30)
    assert not oversaturated(t, (done - t) * 1000, 2, 30, 10)


def test_confirm_interval_inside_and_across_the_slo() -> None:
    rng = np.random.default_rng(3)
    inside = [{"latency_ms": rng.normal(300, 30, 150), "ok": np.ones(150, bool)} for _ in range(30)]
    across = [{"latency_ms": rng.normal(480, 40, 150), "ok": np.ones(150, bool)} for _ in range(30)]

    def value(th, rows):
        return float(np.percentile(rows["latency_ms"], th.percentile))

    good = margin_intervals(inside, [P95], value, 300, seed=1)
    bad = margin_intervals(across, [P95], value, 300, seed=1)
    lo, hi = good[P95.key]
    assert lo <= hi < 0 and math.isclose(hi, margin(P95, 300 + 1.645 * 30), abs_tol=0.05)
    assert bad[P95.key][1] > 0
    repeats = [replace(probe(1, 10, 300, "confirm"), achieved_ratio=1.0, requests=1500)]
    assert confirmed(good, repeats) and not confirmed(bad, repeats)
    assert not confirmed(good, [probe(1, 10, 300, "confirm")])  # no achieved ratio: nothing to confirm with


def test_rules_over_repeats_are_judged_pooled() -> None:
    """One repeat short of 98 % or over-saturated does not sink a rate the others sustain; most of them does."""

    def rep(i: int, achieved: float, over: bool = False, requests: int = 1500) -> ProbeRecord:
        return replace(probe(i, 97.0, 300, "confirm"), achieved_ratio=achieved, oversaturated=over, requests=requests)

    assert pooled_failures([rep(1, 0.975), rep(2, 0.99), rep(3, 0.995, over=True)], 0.98) == []
    assert confirmed({P95.key: (-0.5, -0.2)}, [rep(1, 0.975), rep(2, 0.99), rep(3, 0.995)])
    low = pooled_failures([rep(1, 0.97), rep(2, 0.975)], 0.98)
    assert len(low) == 1 and "achieved 0.9725 of the requested rate over 2 probes" in low[0]
    assert pooled_failures([rep(1, 0.9, requests=100), rep(2, 0.99, requests=1900)], 0.98) == []  # by requests
    over = pooled_failures([rep(1, 0.99, True), rep(2, 0.99), rep(3, 0.99, True)], 0.98)
    assert over == ["over-saturated in 2 of 3 probes"]
    assert pooled_failures([rep(1, 0.99, True), rep(2, 0.99, True)], 0.98) == ["over-saturated in 2 of 2 probes"]
    assert pooled_failures([rep(1, 0.99, True), rep(2, 0.99)], 0.98) == []


def ladder_on(capacity: float, found: float, bisections: int = 1) -> tuple[Rung | None, list[float]]:
    """The confirm ladder on a replica whose repeats hold every rate up to ``capacity`` and no rate above."""
    judged: list[float] = []

    def judge(rate: float, n: int) -> Rung:
        judged.append(round(rate, 6))
        rep = replace(probe(n, rate, 300, "confirm"), achieved_ratio=1.0)
        return Rung(rate, (rep,), {P95.key: (-0.5, -0.2)}, held=rate <= capacity)

    best, _ = ladder(found, 5.0, 2, bisections, judge)
    return best, judged


def test_confirm_ladder_keeps_the_found_rate_when_it_holds_and_still_tries_5_percent_below() -> None:
    best, judged = ladder_on(capacity=101, found=100)
    assert best is not None and best.rate_rps == 100 and judged == [100, 95]


def test_confirm_ladder_bisects_the_step_when_only_the_lower_rate_holds() -> None:
    best, judged = ladder_on(capacity=98, found=100)
    assert best is not None and best.rate_rps == 97.5 and judged == [100, 95, 97.5]
    best, judged = ladder_on(capacity=96.5, found=100, bisections=2)  # 97.5 fails: 96.25 is tried next
    assert best is not None and best.rate_rps == 96.25 and judged == [100, 95, 97.5, 96.25]
    best, judged = ladder_on(capacity=98, found=100, bisections=0)
    assert best is not None and best.rate_rps == 95 and judged == [100, 95]


def test_confirm_ladder_steps_further_down_then_bisects_and_may_find_nothing() -> None:
    best, judged = ladder_on(capacity=93, found=100)
    assert best is not None and best.rate_rps == 92.5 and judged == [100, 95, 90, 92.5]
    best, judged = ladder_on(capacity=50, found=100)
    assert best is None and judged == [100, 95, 90, 85]


def test_the_answer_is_never_more_than_the_repeats_served() -> None:
    def rung(*ratios: float) -> Rung:
        reps = [replace(probe(i, 100, 300, "confirm"), achieved_ratio=r, requests=1500) for i, r in enumerate(ratios)]
        return Rung(100.0, tuple(reps), {}, held=True)

    assert rung(0.98, 0.99, 1.0).answer_rps == pytest.approx(99.0)
    assert rung(1.01, 1.0, 1.02).answer_rps == 100.0  # served more than arrived (a queue drained): the rate


def test_a_rule_failing_below_the_slo_root_does_not_make_the_search_creep() -> None:
    """The replica falls behind (a rule fails) at 66 rps while its p95 only crosses the SLO far above: the
    fitted root keeps landing near the first failing rate; the search must still close in 12 probes."""

    def run(rate: float) -> ProbeRecord:
        p95 = 100.0 + 400.0 * (rate / 140.0) ** 4  # crosses 500 ms at 140 rps
        fails = rate >= 66.0
        return ProbeRecord(0, "bracket", rate, "p", passed=not fails, margins={P95.key: margin(P95, p95 if not fails
                           else max(p95, 510.0))})  # fmt: skip

    probes: list[ProbeRecord] = []
    while (rate := next_rate(SearchSettings(), 64.0, probes)) is not None:
        probes.append(run(rate))
    b = bracket(probes)
    assert len(probes) <= 12 and b.first_fail.rate_rps / b.last_pass.rate_rps - 1 <= 0.05 + 1e-9
    assert 0.95 <= b.last_pass.rate_rps / 66.0 < 1.0
