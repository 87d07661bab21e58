"""The VPA recommender's histograms, ported from kubernetes/autoscaler vertical-pod-autoscaler/pkg/recommender
util/histogram.go, util/histogram_options.go and util/decaying_histogram.go (no I/O; times in seconds).

In: samples (value, weight, and for the decaying one their time).  Out: ``Histogram`` (buckets by
``LinearOptions`` or ``ExponentialOptions``; a percentile is the *end* of the bucket it falls in) and
``DecayingHistogram`` (a sample at ``t`` weighs ``2^((t - reference) / half_life)``, the reference shifted
as upstream shifts it).  Used by harness/autoscale/vpa.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

MAX_DECAY_EXPONENT = 100


@dataclass(frozen=True)
class LinearOptions:
    """Buckets of a fixed size from 0; the last bucket starts at or above ``max_value``."""

    max_value: float
    bucket_size: float
    epsilon: float

    @property
    def num_buckets(self) -> int:
        return math.ceil(self.max_value / self.bucket_size) + 1

    def find_bucket(self, value: float) -> int:
        bucket = int(value / self.bucket_size)
        return min(max(bucket, 0), self.num_buckets - 1)

    def bucket_start(self, bucket: int) -> float:
        return bucket * self.bucket_size


@dataclass(frozen=True)
class ExponentialOptions:
    """Bucket ``n`` is ``first * ratio^n`` wide; the first covers [0, first)."""

    max_value: float
    first_bucket_size: float
    ratio: float
    epsilon: float

    @property
    def num_buckets(self) -> int:
        return math.ceil(math.log(self.max_value * (self.ratio - 1) / self.first_bucket_size + 1, self.ratio)) + 1

    def find_bucket(self, value: float) -> int:
        if value < self.first_bucket_size:
            return 0
        bucket = int(math.log(value * (self.ratio - 1) / self.first_bucket_size + 1) / math.log(self.ratio))
        return min(bucket, self.num_buckets - 1)

    def bucket_start(self, bucket: int) -> float:
        if bucket == 0:
            return 0.0
        return self.first_bucket_size * (self.ratio**bucket - 1) / (self.ratio - 1)


HistogramOptions = LinearOptions | ExponentialOptions


@dataclass
class Histogram:
    """upstream's ``histogram``: total weight per bucket; a percentile is the end of its bucket."""

    options: HistogramOptions
    weights: list[float] = field(default_factory=list)
    total: float = 0.0
    min_bucket: int = -1
    max_bucket: int = 0

    def __post_init__(self) -> None:
        n = self.options.num_buckets
        if not self.weights:
            self.weights = [0.0] * n
        if self.min_bucket < 0:
            self.min_bucket = n - 1

    def add(self, value: float, weight: float) -> None:
        if weight < 0:
            raise ValueError("sample weight must be non-negative")
        bucket = self.options.find_bucket(value)
        self.weights[bucket] += weight
        self.total += weight
        if bucket < self.min_bucket and self.weights[bucket] >= self.options.epsilon:
            self.min_bucket = bucket
        if bucket > self.max_bucket and self.weights[bucket] >= self.options.epsilon:
            self.max_bucket = bucket

    def subtract(self, value: float, weight: float) -> None:
        if weight < 0:
            raise ValueError("sample weight must be non-negative")
        bucket = self.options.find_bucket(value)
        if weight > self.weights[bucket] - self.options.epsilon:
            weight = self.weights[bucket]
        self.total -= weight
        self.weights[bucket] -= weight
        self._update_min_max()

    def merge(self, other: Histogram) -> None:
        if other.options != self.options:
            raise ValueError("can't merge histograms with different options")
        for bucket in range(other.min_bucket, other.max_bucket + 1):
            self.weights[bucket] += other.weights[bucket]
        self.total += other.total
        self.min_bucket = min(self.min_bucket, other.min_bucket)
        self.max_bucket = max(self.max_bucket, other.max_bucket)

    def is_empty(self) -> bool:
        return self.weights[self.min_bucket] < self.options.epsilon

    def percentile(self, p: float) -> float:
        if self.is_empty():
            return 0.0
        partial, threshold = 0.0, p * self.total
        bucket = self.min_bucket
        while bucket < self.max_bucket:
            partial += self.weights[bucket]
            if partial >= threshold:
                break
            bucket += 1
        if bucket < self.options.num_buckets - 1:
            return self.options.bucket_start(bucket + 1)
        return self.options.bucket_start(bucket)

    def scale(self, factor: float) -> None:
        for bucket in range(self.min_bucket, self.max_bucket + 1):
            self.weights[bucket] *= factor
        self.total *= factor
        self._update_min_max()

    def equals(self, other: Histogram) -> bool:
        if other.options != self.options or (self.min_bucket, self.max_bucket) != (other.min_bucket, other.max_bucket):
            return False
        return all(
            abs(self.weights[b] - other.weights[b]) <= 1e-15 for b in range(self.min_bucket, self.max_bucket + 1)
        )

    def _update_min_max(self) -> None:
        last = self.options.num_buckets - 1
        while self.weights[self.min_bucket] < self.options.epsilon and self.min_bucket < last:
            self.min_bucket += 1
        while self.weights[self.max_bucket] < self.options.epsilon and self.max_bucket > 0:
            self.max_bucket -= 1


def _go_round(x: float) -> int:
    return math.floor(x + 0.5)


@dataclass
class DecayingHistogram:
    """upstream's ``decayingHistogram``: a sample at ``t`` weighs ``2^((t - reference) / half_life)``."""

    options: HistogramOptions
    half_life_s: float
    reference_s: float = 0.0
    hist: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.hist = Histogram(self.options)

    def add(self, value: float, weight: float, t_s: float) -> None:
        self.hist.add(value, weight * self._decay(t_s))

    def subtract(self, value: float, weight: float, t_s: float) -> None:
        self.hist.subtract(value, weight * self._decay(t_s))

    def percentile(self, p: float) -> float:
        return self.hist.percentile(p)

    def is_empty(self) -> bool:
        return self.hist.is_empty()

    def merge(self, other: DecayingHistogram) -> None:
        if other.half_life_s != self.half_life_s:
            raise ValueError("can't merge decaying histograms with different half life periods")
        if self.reference_s < other.reference_s:
            self._shift(other.reference_s)
        elif other.reference_s < self.reference_s:
            other._shift(self.reference_s)
        self.hist.merge(other.hist)

    def equals(self, other: DecayingHistogram) -> bool:
        return (
            self.half_life_s == other.half_life_s
            and self.reference_s == other.reference_s
            and self.hist.equals(other.hist)
        )

    def _shift(self, new_reference_s: float) -> None:
        new_reference_s = _go_round(new_reference_s / self.half_life_s) * self.half_life_s
        exponent = _go_round((self.reference_s - new_reference_s) / self.half_life_s)
        self.hist.scale(math.ldexp(1.0, exponent))
        self.reference_s = new_reference_s

    def _decay(self, t_s: float) -> float:
        if t_s > self.reference_s + self.half_life_s * MAX_DECAY_EXPONENT:
            self._shift(t_s)
        return 2.0 ** ((t_s - self.reference_s) / self.half_life_s)
