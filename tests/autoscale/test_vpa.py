"""The VPA recommender port (harness.autoscale.vpa) against upstream's own test cases
(kubernetes/autoscaler vertical-pod-autoscaler/pkg/recommender: util/histogram_test.go,
util/decaying_histogram_test.go, logic/estimator_test.go), plus the recommender's defaults end to end."""

from __future__ import annotations

import pytest

from harness.autoscale import vpa
from harness.autoscale.vpa_histogram import DecayingHistogram, Histogram, LinearOptions

EPS = 1e-15
TEST_OPTIONS = LinearOptions(10.0, 1.0, EPS)
HOUR = 3600.0
START = 1234567890.0


def approx(x: float, rel: float = 1e-12):
    return pytest.approx(x, rel=rel)


def test_percentiles_of_an_empty_histogram_are_zero():
    h = Histogram(TEST_OPTIONS)
    d = DecayingHistogram(TEST_OPTIONS, HOUR)
    for p in (-0.5, 0.0, 0.5, 1.0, 1.5):
        assert h.percentile(p) == 0.0 and d.percentile(p) == 0.0


@pytest.mark.parametrize(
    "p,expected",
    [(0.0, 2), (0.1, 2), (0.2, 3), (0.3, 3), (0.4, 4), (0.5, 4), (0.6, 4), (0.7, 5), (0.8, 5), (0.9, 5), (1.0, 5)],
)
def test_percentiles(p, expected):  # TestPercentiles: {1: 1, 2: 2, 3: 3, 4: 4}
    h = Histogram(TEST_OPTIONS)
    for i in range(1, 5):
        h.add(float(i), float(i))
    assert h.percentile(p) == approx(expected)


def test_percentile_out_of_bounds():
    h = Histogram(LinearOptions(1.0, 0.1, EPS))
    h.add(0.1, 0.1)
    h.add(0.2, 0.2)
    assert h.percentile(-0.1) == approx(0.2) and h.percentile(1.1) == approx(0.3)
    h.add(0.0, 0.1)
    h.add(1.0, 0.2)
    assert h.percentile(-0.1) == approx(0.1) and h.percentile(1.1) == approx(1.0)


def test_empty_histogram_and_epsilon():
    h = Histogram(LinearOptions(1.0, 0.1, EPS))
    assert h.is_empty()
    h.add(0.1, EPS * 2.5)
    assert not h.is_empty()
    h.subtract(0.1, EPS)
    assert not h.is_empty()
    h.subtract(0.1, EPS)
    assert h.is_empty()
    g = Histogram(LinearOptions(1.0, 0.1, EPS))
    g.add(9.9, EPS * 3)
    g.add(0.1, EPS * 0.3)
    g.add(999.9, EPS * 0.3)
    assert not g.is_empty()  # TestNonEmptyOnEpsilonAddition


def test_histogram_merge():
    h1, h2, expected = (Histogram(TEST_OPTIONS) for _ in range(3))
    for v in (1, 2):
        h1.add(v, 1)
    for v in (2, 3):
        h2.add(v, 1)
    for v in (1, 2, 2, 3):
        expected.add(v, 1)
    h1.merge(h2)
    assert h1.equals(expected)


def test_simple_and_long_term_decay():
    h = DecayingHistogram(TEST_OPTIONS, HOUR)
    h.add(2, 1000, START)
    h.add(1, 1, START + 20 * HOUR)  # 2^20 * 0.001 > 1000 times the first sample's weight
    assert h.percentile(0.999) == approx(2) and h.percentile(1.0) == approx(3)
    g = DecayingHistogram(TEST_OPTIONS, HOUR)
    g.add(2, 1, START)
    g.add(1, 1, START + 101 * HOUR)  # beyond 2^maxDecayExponent: renormalised
    assert g.percentile(1.0) == approx(2)


@pytest.mark.parametrize(
    "p,expected", [(0.0, 2), (0.02, 2), (0.03, 3), (0.10, 3), (0.11, 4), (0.34, 4), (0.35, 5), (1.0, 5)]
)
def test_decaying_histogram_percentiles(p, expected):
    h = DecayingHistogram(TEST_OPTIONS, HOUR)
    for i in range(1, 5):  # values and weights 1..4, one half-life apart
        h.add(float(i), float(i), START + (i - 1) * HOUR)
    assert h.percentile(p) == approx(expected)


def test_no_decay_at_a_fixed_time():
    h = DecayingHistogram(TEST_OPTIONS, HOUR)
    for i in range(1, 5):
        h.add(float(i), float(i), START)
    got = [h.percentile(p / 10) for p in range(11)]
    assert got == [approx(x) for x in (2, 2, 3, 3, 4, 4, 4, 5, 5, 5, 5)]


def test_decaying_histogram_merge():
    h1, h2, expected = (DecayingHistogram(TEST_OPTIONS, HOUR) for _ in range(3))
    h1.add(1, 1, START)
    h1.add(2, 1, START + HOUR)
    h2.add(2, 1, START + 2 * HOUR)
    h2.add(3, 1, START + HOUR)
    for v, t in ((2, 2), (2, 1), (3, 1), (1, 0)):
        expected.add(v, 1, START + t * HOUR)
    h1.merge(h2)
    assert h1.equals(expected)


def test_percentile_estimator():  # TestPercentileEstimator: within 5 % (histogram rounding)
    cpu = Histogram(vpa.CPU_OPTIONS)
    mem = Histogram(vpa.MEMORY_OPTIONS)
    for v in (1.0, 2.0, 3.0):
        cpu.add(v, 1.0)
        mem.add(v * 1e9, 1.0)
    assert cpu.percentile(0.2) == pytest.approx(1.0, rel=0.05)
    assert mem.percentile(0.5) == pytest.approx(2e9, rel=0.05)


def test_confidence_multiplier():
    state = vpa.ContainerState()
    assert vpa.confidence_multiplier(vpa.cpu_amount(3.14), 1.0, 1.0, vpa.confidence(state)) == 1e14
    assert vpa.confidence_multiplier(vpa.cpu_amount(3.14), 1.0, -1.0, vpa.confidence(state)) == 0
    for i in range(9):
        state.add_cpu(i * 120.0, 1.0, 0.0)
    conf = vpa.confidence(state)
    assert conf == 0.00625  # 9 / (60 * 24)
    assert vpa.confidence_multiplier(vpa.cpu_amount(3.14), 0.1, 2.0, conf) / 1000 == 907.46
    assert vpa.confidence_multiplier(vpa.memory_amount(3.14e9), 0.1, 2.0, conf) == 9.0746e11
    custom = vpa.confidence(state, 18 * 60.0)  # TestConfidenceMultiplierWithCustomInterval
    assert custom == 0.5
    assert vpa.confidence_multiplier(vpa.cpu_amount(3.14), 0.1, 2.0, custom) / 1000 == 4.521
    assert vpa.confidence_multiplier(vpa.memory_amount(3.14e9), 0.1, 2.0, custom) == 4.5216e9


def test_margin_and_minimum():
    assert vpa.with_margin(vpa.cpu_amount(3.14), 0.1) / 1000 == pytest.approx(3.14 * 1.1)
    assert vpa.with_margin(vpa.memory_amount(3.14e9), 0.1) == pytest.approx(3.14e9 * 1.1)
    assert max(vpa.cpu_amount(3.14), vpa.cpu_amount(0.2)) / 1000 == 3.14  # TestMinResourcesEstimator


def test_memory_keeps_one_peak_per_interval():
    state = vpa.ContainerState()
    for t, mem in ((0, 3e8), (60, 5e8), (120, 4e8)):  # one interval: the peak 5e8 replaces 3e8
        state.add_memory(float(t), mem)
    assert state.window_end_s == vpa.DAY_S and state.memory_peak_bytes == 5e8
    assert state.memory_peaks.percentile(0.0) == pytest.approx(5e8, rel=0.05)  # 3e8 was taken out
    state.add_memory(vpa.DAY_S + 1, 1e8)  # the next interval: a second peak
    assert state.memory_peaks.percentile(0.0) == pytest.approx(1e8, rel=0.12)


def test_recommendation_with_upstream_defaults():
    """A steady container at 0.2 core and 300 MB for two hours, sampled each minute, requesting 1 core."""
    samples = [(f"p{m % 2}", m * 60.0, 0.2, 3e8) for m in range(120)]
    rec = vpa.recommend_from_samples(samples, 1.0, cpu_limit_ratio=2.0)
    assert rec.cpu_cores.target == pytest.approx(0.2 * 1.15, rel=0.06)  # p90 bucket end + 15 %
    assert rec.memory_bytes.target == pytest.approx(3e8 * 1.15, rel=0.06)
    assert rec.cpu_limit_cores == pytest.approx(2 * rec.cpu_cores.target)
    assert rec.confidence == pytest.approx(119 / 1440)  # min(lifespan, samples/min)
    assert rec.cpu_cores.upper > 10 * rec.cpu_cores.target  # two hours of history: a wide upper bound
    assert rec.cpu_cores.lower <= rec.cpu_cores.target
    idle = vpa.recommend_from_samples([("p", m * 60.0, 0.001, 1e6) for m in range(10)], 1.0)
    assert idle.cpu_cores.target == 0.025 and idle.memory_bytes.target == 250 * 2**20  # the minimums
