"""The Vertical Pod Autoscaler's recommender as pure functions (no I/O; times are arguments, in seconds).

In: a container's usage samples (start time, CPU cores over the sample, memory bytes) and its CPU request.
Out: ``Recommendation``: target, lower and upper bound for CPU (cores) and memory (bytes), and the limits that keep
the container's limit/request ratios (the VPA's default ``RequestsAndLimits`` controlled values).

Ported from kubernetes/autoscaler vertical-pod-autoscaler/pkg/recommender (util/histogram.go,
util/histogram_options.go, util/decaying_histogram.go, model/aggregations_config.go, model/container.go,
model/aggregate_container_state.go, logic/estimator.go, logic/recommender.go), with upstream's defaults:

- histograms with exponential buckets growing 5 % (CPU: first bucket 0.001 core, max 1000 cores; memory: first
  bucket 1e7 bytes, max 1e12), epsilon 1e-4, decaying with a half-life of 24 h; a percentile is the *end* of
  the bucket it falls in;
- CPU samples weigh ``max(request cores, 0.1)``; memory adds one peak per aggregation interval (24 h), replaced
  when a higher sample arrives in the same interval;
- target p90, lower bound p50, upper bound p95, each plus a 15 % safety margin, at least 25 millicores and
  250 MiB (``pod-recommendation-min-*`` spread over the pod's containers);
- confidence ``min(lifespan / interval, samples / (interval in minutes))`` with a 24 h interval; the upper bound
  is scaled by ``(1 + 1/confidence)``, the lower bound by ``(1 + 0.001/confidence)^-2``;
- amounts are integers as upstream's ``ResourceAmount``: CPU in millicores, memory in bytes, capped at 1e14.

The histograms are in vpa_histogram.py.  Where kibench differs (docs/resources.md): samples come from one short
run (seconds apart, not upstream's one-a-minute metrics-server scrapes), so the confidence is small and the
bounds wide, as upstream would show for a new workload; there are no OOM bumps (the embedded cluster sets no
memory limits) and no checkpoints.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.autoscale.vpa_histogram import DecayingHistogram, ExponentialOptions

MAX_RESOURCE_AMOUNT = 1e14
MIN_SAMPLE_WEIGHT = 0.1
EPSILON = 0.001 * MIN_SAMPLE_WEIGHT
DAY_S = 24 * 3600.0
BUCKET_GROWTH = 0.05
CPU_OPTIONS = ExponentialOptions(1000.0, 0.001, 1 + BUCKET_GROWTH, EPSILON)
MEMORY_OPTIONS = ExponentialOptions(1e12, 1e7, 1 + BUCKET_GROWTH, EPSILON)


@dataclass(frozen=True)
class RecommenderConfig:
    """Upstream's flag defaults (``--target-cpu-percentile`` etc.)."""

    safety_margin_fraction: float = 0.15
    pod_min_cpu_millicores: float = 25.0
    pod_min_memory_mb: float = 250.0
    target_cpu_percentile: float = 0.9
    lower_bound_cpu_percentile: float = 0.5
    upper_bound_cpu_percentile: float = 0.95
    target_memory_percentile: float = 0.9
    lower_bound_memory_percentile: float = 0.5
    upper_bound_memory_percentile: float = 0.95
    confidence_interval_cpu_s: float = DAY_S
    confidence_interval_memory_s: float = DAY_S
    cpu_half_life_s: float = DAY_S
    memory_half_life_s: float = DAY_S
    memory_aggregation_interval_s: float = DAY_S


# --- the aggregate state of one container ---------------------------------------------------------------------


@dataclass
class AggregateState:
    """upstream's ``AggregateContainerState``: the histograms of every pod's container of one name."""

    config: RecommenderConfig = field(default_factory=RecommenderConfig)
    cpu: DecayingHistogram = field(init=False)
    memory_peaks: DecayingHistogram = field(init=False)
    first_sample_s: float | None = None
    last_sample_s: float | None = None
    total_samples: int = 0

    def __post_init__(self) -> None:
        self.cpu = DecayingHistogram(CPU_OPTIONS, self.config.cpu_half_life_s)
        self.memory_peaks = DecayingHistogram(MEMORY_OPTIONS, self.config.memory_half_life_s)

    def add_cpu(self, t_s: float, usage: int, request: int) -> None:
        """Weighted by the request (at least 0.1 core): raising the request makes the past count less."""
        self.cpu.add(usage / 1000.0, max(request / 1000.0, MIN_SAMPLE_WEIGHT), t_s)
        if self.last_sample_s is None or t_s > self.last_sample_s:
            self.last_sample_s = t_s
        if self.first_sample_s is None or t_s < self.first_sample_s:
            self.first_sample_s = t_s
        self.total_samples += 1


@dataclass
class ContainerState:
    """upstream's ``ContainerState``: one container instance (one pod's), feeding its aggregate."""

    config: RecommenderConfig = field(default_factory=RecommenderConfig)
    aggregate: AggregateState | None = None
    last_cpu_sample_s: float | None = None
    last_memory_sample_s: float | None = None
    window_end_s: float | None = None
    memory_peak_bytes: int = 0

    def __post_init__(self) -> None:
        if self.aggregate is None:
            self.aggregate = AggregateState(self.config)

    @property
    def agg(self) -> AggregateState:
        assert self.aggregate is not None
        return self.aggregate

    @property
    def memory_peaks(self) -> DecayingHistogram:
        return self.agg.memory_peaks

    def add_cpu(self, t_s: float, usage_cores: float, request_cores: float) -> bool:
        """A CPU sample; out-of-order or duplicate samples are discarded (False)."""
        usage = cpu_amount(usage_cores)
        if usage < 0 or (self.last_cpu_sample_s is not None and t_s <= self.last_cpu_sample_s):
            return False
        self.agg.add_cpu(t_s, usage, cpu_amount(request_cores))
        self.last_cpu_sample_s = t_s
        return True

    def add_memory(self, t_s: float, usage_bytes: float) -> bool:
        """A memory sample: one peak per aggregation interval, replaced by a higher one within it."""
        usage = memory_amount(usage_bytes)
        if usage < 0 or (self.last_memory_sample_s is not None and t_s < self.last_memory_sample_s):
            return False
        self.last_memory_sample_s = t_s
        if self.window_end_s is None:
            self.window_end_s = t_s
        add_new = False
        if t_s < self.window_end_s:
            old = self.memory_peak_bytes
            if old != 0 and usage > old:
                self.memory_peaks.subtract(float(old), 1.0, self.window_end_s)
                add_new = True
        else:
            interval = self.agg.config.memory_aggregation_interval_s
            shift = math.floor((t_s - self.window_end_s) / interval) * interval + interval
            self.window_end_s += shift
            self.memory_peak_bytes = 0
            add_new = True
        if add_new:
            self.memory_peaks.add(float(usage), 1.0, self.window_end_s)
            self.memory_peak_bytes = usage
        return True


def cpu_amount(cores: float) -> int:
    """Cores as upstream's ResourceAmount (millicores, truncated, within [0, 1e14])."""
    return _amount(cores * 1000.0)


def memory_amount(n_bytes: float) -> int:
    return _amount(n_bytes)


def _amount(value: float) -> int:
    if math.isnan(value) or value > MAX_RESOURCE_AMOUNT:
        return int(MAX_RESOURCE_AMOUNT)
    return int(value) if value > 0 else 0


def scale_amount(amount: int, factor: float) -> int:
    return _amount(amount * factor)


def confidence(state: AggregateState | ContainerState, interval_s: float = DAY_S) -> float:
    """How much history backs the estimate: for one sample a minute over N intervals, N."""
    if isinstance(state, ContainerState):
        state = state.agg
    if state.first_sample_s is None or state.last_sample_s is None:
        return 0.0
    lifespan = (state.last_sample_s - state.first_sample_s) / interval_s
    samples = state.total_samples / (interval_s / 60.0)
    return min(lifespan, samples)


def confidence_multiplier(amount: int, multiplier: float, exponent: float, conf: float) -> int:
    """``amount * (1 + multiplier/confidence)^exponent`` (no history: infinite, or 0 for a negative exponent)."""
    if conf <= 0:
        return int(MAX_RESOURCE_AMOUNT) if exponent > 0 else 0
    return scale_amount(amount, (1.0 + multiplier / conf) ** exponent)


def with_margin(amount: int, fraction: float) -> int:
    return amount + scale_amount(amount, fraction)


# --- the recommendation ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """One resource's recommendation: target, lower and upper bound (CPU in cores, memory in bytes)."""

    target: float
    lower: float
    upper: float


@dataclass(frozen=True)
class Recommendation:
    cpu_cores: Bounds
    memory_bytes: Bounds
    cpu_limit_cores: float | None  # the target scaled by the container's limit/request ratio; None: no limit
    memory_limit_bytes: float | None
    confidence: float


def recommend(
    state: AggregateState | ContainerState,
    containers_per_pod: int = 1,
    cpu_limit_ratio: float | None = None,
    memory_limit_ratio: float | None = None,
) -> Recommendation:
    """upstream's ``GetRecommendedPodResources`` for one container, and its proportional limits."""
    if isinstance(state, ContainerState):
        state = state.agg
    cfg = state.config
    fraction = 1.0 / containers_per_pod
    min_cpu = scale_amount(cpu_amount(cfg.pod_min_cpu_millicores * 0.001), fraction)
    min_memory = scale_amount(memory_amount(cfg.pod_min_memory_mb * 1024 * 1024), fraction)

    def cpu(p: float) -> int:
        return with_margin(cpu_amount(state.cpu.percentile(p)), cfg.safety_margin_fraction)

    def mem(p: float) -> int:
        return with_margin(memory_amount(state.memory_peaks.percentile(p)), cfg.safety_margin_fraction)

    conf_cpu = confidence(state, cfg.confidence_interval_cpu_s)
    conf_mem = confidence(state, cfg.confidence_interval_memory_s)
    cpu_t = max(cpu(cfg.target_cpu_percentile), min_cpu)
    cpu_lo = max(confidence_multiplier(cpu(cfg.lower_bound_cpu_percentile), 0.001, -2.0, conf_cpu), min_cpu)
    cpu_hi = max(confidence_multiplier(cpu(cfg.upper_bound_cpu_percentile), 1.0, 1.0, conf_cpu), min_cpu)
    mem_t = max(mem(cfg.target_memory_percentile), min_memory)
    mem_lo = max(confidence_multiplier(mem(cfg.lower_bound_memory_percentile), 0.001, -2.0, conf_mem), min_memory)
    mem_hi = max(confidence_multiplier(mem(cfg.upper_bound_memory_percentile), 1.0, 1.0, conf_mem), min_memory)
    return Recommendation(
        Bounds(cpu_t / 1000.0, cpu_lo / 1000.0, cpu_hi / 1000.0),
        Bounds(float(mem_t), float(mem_lo), float(mem_hi)),
        None if cpu_limit_ratio is None else cpu_t / 1000.0 * cpu_limit_ratio,
        None if memory_limit_ratio is None else mem_t * memory_limit_ratio,
        min(conf_cpu, conf_mem),
    )


def recommend_from_samples(
    samples: Iterable[tuple[str, float, float, float]],
    cpu_request_cores: float,
    config: RecommenderConfig | None = None,
    cpu_limit_ratio: float | None = None,
    memory_limit_ratio: float | None = None,
) -> Recommendation:
    """Feed ``(pod, t_s, cpu_cores, memory_bytes)`` samples (each pod's in time order) into one aggregate, as
    upstream aggregates the containers of one name across a workload's pods, and recommend."""
    aggregate = AggregateState(config or RecommenderConfig())
    pods: dict[str, ContainerState] = {}
    for pod, t_s, cores, mem in samples:
        state = pods.setdefault(pod, ContainerState(aggregate.config, aggregate))
        state.add_cpu(t_s, cores, cpu_request_cores)
        state.add_memory(t_s, mem)
    return recommend(aggregate, 1, cpu_limit_ratio, memory_limit_ratio)
