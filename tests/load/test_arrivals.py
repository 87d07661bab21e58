"""Arrival processes: counts, rates, burstiness, reproducibility and the split among workers."""

from __future__ import annotations

import itertools
import statistics

import pytest

from harness.load.arrivals import arrival_times, worker_share
from harness.load.shapes import Segment

STEADY = (Segment(0.0, 100.0, 50.0, 50.0, "steady"),)
RAMP = (Segment(0.0, 10.0, 0.0, 100.0, "up"), Segment(10.0, 20.0, 100.0, 100.0, "hold"))


def test_uniform_count_is_the_area_and_spacing_is_even():
    times = list(arrival_times(STEADY, "uniform"))
    assert len(times) == 5000
    gaps = {round(b - a, 9) for a, b in itertools.pairwise(times)}
    assert gaps == {0.02}


def test_uniform_follows_a_ramp():
    times = list(arrival_times(RAMP, "uniform"))
    assert len(times) == 500 + 1000
    first_half = sum(1 for t in times if t < 5.0)
    assert first_half == 125  # area under 0→50 rps over 5 s
    assert times == sorted(times) and times[0] >= 0 and times[-1] < 20


@pytest.mark.parametrize("process", ["poisson", "gamma"])
def test_random_processes_are_seeded(process):
    a = list(itertools.islice(arrival_times(STEADY, process, 0.5, seed=7), 200))
    b = list(itertools.islice(arrival_times(STEADY, process, 0.5, seed=7), 200))
    c = list(itertools.islice(arrival_times(STEADY, process, 0.5, seed=8), 200))
    assert a == b and a != c


def test_poisson_rate_and_exponential_gaps():
    times = list(arrival_times(STEADY, "poisson", seed=3))
    assert len(times) == pytest.approx(5000, rel=0.05)  # sd of the count is sqrt(5000) ≈ 1.4 %
    gaps = [b - a for a, b in itertools.pairwise(times)]
    cv = statistics.pstdev(gaps) / statistics.fmean(gaps)
    assert cv == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(("burstiness", "expected_cv"), [(0.25, 2.0), (4.0, 0.5)])
def test_gamma_burstiness_sets_the_spread_not_the_rate(burstiness, expected_cv):
    times = list(arrival_times(STEADY, "gamma", burstiness, seed=11))
    assert len(times) == pytest.approx(5000, rel=0.1)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    cv = statistics.pstdev(gaps) / statistics.fmean(gaps)
    assert cv == pytest.approx(expected_cv, rel=0.15)


def test_random_arrivals_follow_the_shape():
    times = list(arrival_times(RAMP, "poisson", seed=5))
    ramp = sum(1 for t in times if t < 10.0)
    hold = len(times) - ramp
    assert ramp == pytest.approx(500, rel=0.15) and hold == pytest.approx(1000, rel=0.1)


@pytest.mark.parametrize("process", ["uniform", "poisson"])
def test_worker_shares_make_up_the_whole_schedule(process):
    whole = list(arrival_times(RAMP, process, seed=2))
    shares = [list(worker_share(arrival_times(RAMP, process, seed=2), i, 3)) for i in range(3)]
    assert sorted(itertools.chain.from_iterable(shares)) == whole
    assert max(len(s) for s in shares) - min(len(s) for s in shares) <= 1
