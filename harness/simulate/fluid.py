"""Fluid (time-stepped) serving for large scale: queues as rates, one step per interval.

In: the load's rate segments, the ``ServiceModel`` and, from the cluster, the Ready pods of each interval.
Out: per pod its backlog, busy time and completions (the gauges and CPU the cluster scrapes), per second
the aggregates (``sim_per_second.parquet``: arrivals, answered, refused, timed out, mean and p95
latency, Ready pods), and, when affordable, request rows synthesised from the fluid state.

Each interval the expected arrivals (the area under the rate) are split evenly over the Ready pods (round
robin); a pod serves at most its capacity (``ServiceModel.capacity_rps``) and carries the rest as
backlog; a backlog over ``max_queue`` is refused (429), a wait over the deadline gives up.  Below
saturation the stationary queueing wait of the arrival process is added (Kingman's approximation with the
arrival process's variability: 0 for uniform, 1 for Poisson, 1/burstiness for gamma; the device's time is
constant), so low-load latency matches the per-request mode without simulating each request.

With a measured ``LatencyCurve`` (curve.py, ``--curve``) the device profile gives way to it: a pod's latency
at its rate of the step is the curve's (its mean, its p95; request rows drawn from its quantiles, the
measured HTTP path included, so no overhead is added), its capacity is the most a probe served, and the
backlog's wait is added on top; its gauges follow Little's law: in flight = backlog + rate x mean latency,
queue depth = backlog + rate x (mean latency - the mean at the lowest probed rate).

The load generator's cap (``max_in_flight`` users, ``load.max_concurrency``), split evenly over the Ready
pods: a pod's users hold its backlog at the step's end plus its rate times the unqueued latency (Little's
law); the step's arrivals that would need more users are dropped (never sent, counted per second).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from harness.load.shapes import Segment
from harness.simulate.curve import LatencyCurve
from harness.simulate.des import busy_share
from harness.simulate.output import RowWriter
from harness.simulate.service import ServiceModel

if TYPE_CHECKING:
    from pathlib import Path

    from harness.simulate.cluster import Cluster

BUSY_WINDOW_S = 10.0
_P95_EXP = math.log(20.0)  # p95 of an exponential tail, in means


class FluidEngine:
    def __init__(
        self,
        model: ServiceModel,
        segments: tuple[Segment, ...],
        writer: RowWriter | None,
        horizon_s: float,
        step_s: float,
        seed: int,
        process: str = "uniform",
        burstiness: float = 1.0,
        overhead_ms: tuple[float, ...] = (),
        curve: LatencyCurve | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        self.cap = max_in_flight
        self.dropped = 0
        self.m = model
        self.curve = curve
        self._mu = curve.capacity_rps if curve is not None else model.capacity_rps
        self._rate = np.zeros(16)  # curve: each pod's arrival rate in its last step (rps)
        self._draw_rate = 0.0
        self._overhead = np.asarray(overhead_ms, dtype=float) / 1000.0  # draws (service.overhead_samples)
        # the p95 column adds the overhead's own p95 (the mean when it is a constant)
        self._overhead_p95_s = float(np.percentile(self._overhead, 95)) if len(self._overhead) else model.overhead_s
        self.segments = segments
        self.writer = writer
        self.step_s = step_s
        self.rng = np.random.default_rng(seed)
        self.cluster: Cluster | None = None
        self.n_sec = int(math.ceil(horizon_s)) + 4
        self.backlog = np.zeros(16)
        self.busy = np.zeros((16, self.n_sec), dtype=np.float32)
        self.done_n = np.zeros((16, self.n_sec), dtype=np.float32)
        self.dropped_per_s = np.zeros(self.n_sec)
        self.agg = np.zeros((self.n_sec, 6))  # arrivals, ok, refused, timed_out, latency sum, p95 weighted sum
        self.generated = 0
        self.recorded = 0
        self.codes: dict[int, int] = {}
        self._carry = 0.0
        self._now = 0.0
        self._ends = np.array([s.end_s for s in segments])
        self._phases = [s.phase for s in segments]
        self.ca2 = {"uniform": 0.0, "poisson": 1.0}.get(process, 1.0 / burstiness)  # arrivals' variability

    def _area(self, r0: float, r1: float) -> float:
        """Expected arrivals between two times since load start."""
        total = 0.0
        for seg in self.segments:
            lo, hi = max(r0, seg.start_s), min(r1, seg.end_s)
            if hi > lo:
                total += (seg.rate_at(lo) + seg.rate_at(hi)) / 2 * (hi - lo)
        return total

    def _grow(self, pod: int) -> None:
        while pod >= len(self.backlog):
            n = len(self.backlog)
            self.backlog = np.concatenate([self.backlog, np.zeros(n)])
            self.busy = np.vstack([self.busy, np.zeros((n, self.n_sec), dtype=np.float32)])
            self.done_n = np.vstack([self.done_n, np.zeros((n, self.n_sec), dtype=np.float32)])
            self._rate = np.concatenate([self._rate, np.zeros(n)])

    def advance(self, t0: float, t1: float, ready: list[int]) -> None:
        cl = self.cluster
        assert cl is not None
        steps = max(1, math.ceil((t1 - t0) / self.step_s - 1e-9))
        edges = np.linspace(t0, t1, steps + 1)
        ids = np.asarray(ready, dtype=np.int64)
        if len(ids):
            self._grow(int(ids.max()))
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            self._step(a, b, ids)

    def _step(self, a: float, b: float, ids: np.ndarray) -> None:
        cl = self.cluster
        assert cl is not None
        dt = b - a
        self._now = b
        sec = min(int(a), self.n_sec - 1)
        mu = self._mu
        s = self.m.batch_s(1)
        arrivals = 0.0
        if cl.load_start_s is not None:
            r0, r1 = a - cl.load_start_s, b - cl.load_start_s
            if r1 > 0 and r0 < self._ends[-1]:
                arrivals = self._area(max(r0, 0.0), r1)
        whole = arrivals + self._carry
        n_req = int(whole)
        self._carry = whole - n_req
        self.generated += n_req
        if self.cap is not None and n_req and len(ids):
            drop = self._over_cap(n_req, arrivals / dt, ids, mu, dt, s)
            n_req -= drop
            self.dropped += drop
            self.dropped_per_s[sec] += drop
        # the pods without new traffic (out of the endpoints, or none came) still work off their backlogs
        idle = np.ones(len(self.backlog), dtype=bool)
        if n_req and len(ids):
            idle[ids] = False
        served_idle = np.where(idle, np.minimum(self.backlog, mu * dt), 0.0)
        self.backlog -= served_idle
        self.done_n[:, sec] += served_idle
        busy_add = np.zeros(len(self.backlog))
        if math.isfinite(mu):
            busy_add += served_idle / mu
        if n_req and not len(ids):
            self.agg[sec, 0] += n_req
            self._count(503, n_req)
            self._rows(a, b, n_req, np.array([-1]), np.array([self.m.overhead_s]), 503)
        elif n_req:
            per = n_req / len(ids)
            q0 = self.backlog[ids]
            rho = min(per / (mu * dt), 0.999) if math.isfinite(mu) else 0.0
            wq = (self.ca2 / 2.0) * rho / (1.0 - rho) * s if self.curve is None else 0.0  # Kingman, constant service
            room = np.maximum(self.m.max_queue - q0, 0.0)
            refused = np.maximum(per - room, 0.0)
            admitted = per - refused
            cap = mu * dt
            q1 = np.maximum(q0 + admitted - cap, 0.0)
            served = np.minimum(q0 + admitted, cap)
            self.backlog[ids] = q1
            wait = (q0 + q1) / 2.0 / mu + wq if math.isfinite(mu) else np.zeros(len(ids))
            late = wait > self.m.deadline_s
            ok = np.where(late, 0.0, admitted)
            timed = np.where(late, admitted, 0.0)
            if self.curve is None:
                latency = s + wait + self.m.overhead_s + (self.m.max_delay_s if self.m.max_batch > 1 else 0.0)
                p95 = s + (q0 + q1) / 2.0 / mu + wq * _P95_EXP + self._overhead_p95_s
            else:
                self._draw_rate = arrivals / dt / len(ids)  # the expected rate, not this step's whole requests
                self._rate[:] = 0.0
                self._rate[ids] = self._draw_rate
                latency = wait + self.curve.mean_ms(self._draw_rate) / 1000.0
                p95 = wait + self.curve.quantiles_ms(self._draw_rate)[1] / 1000.0
            self.agg[sec, 0] += n_req
            self.agg[sec, 1] += ok.sum()
            self.agg[sec, 2] += refused.sum()
            self.agg[sec, 3] += timed.sum()
            self.agg[sec, 4] += (ok * latency).sum()
            self.agg[sec, 5] += (ok * p95).sum()
            busy_add[ids] += served / mu if math.isfinite(mu) else 0.0
            self.done_n[ids, sec] += served
            self._count(200, int(round(ok.sum())))
            self._count(429, int(round(refused.sum())))
            self._count(self.m.deadline_status, int(round(timed.sum())))
            if self.writer is not None:
                self._rows(a, b, n_req, ids, latency, 200, late, refused / np.maximum(per, 1e-12))
        self.busy[:, sec] += np.minimum(busy_add, dt).astype(np.float32)

    def _over_cap(self, n_req: int, rate_rps: float, ids: np.ndarray, mu: float, dt: float, s: float) -> int:
        """Arrivals of the step that would find every user busy: each pod's share of the users holds its
        backlog at the step's end plus what its device and the path hold (its rate x the unqueued latency,
        Little's law); what would exceed that is dropped."""
        assert self.cap is not None
        if self.curve is not None:
            latency_s = self.curve.mean_ms(rate_rps / len(ids)) / 1000.0
        else:
            latency_s = s + self.m.overhead_s
        users = self.cap / len(ids)
        q0 = self.backlog[ids]
        if not math.isfinite(mu):
            room = np.full(len(ids), users * dt / max(latency_s, 1e-12))
        else:  # without a backlog the users limit the rate; with one, the backlog may grow to the users
            unqueued = users * dt / max(latency_s, 1e-12)
            room = np.where(unqueued <= mu * dt - q0, unqueued, users + mu * dt - q0 - mu * latency_s)
        allowed = float(np.maximum(room, 0.0).sum())
        return max(n_req - int(math.floor(allowed + 1e-9)), 0)

    def _count(self, code: int, n: int) -> None:
        if n:
            self.codes[code] = self.codes.get(code, 0) + n

    def _rows(
        self,
        a: float,
        b: float,
        n: int,
        ids: np.ndarray,
        latency: np.ndarray,
        code: int,
        late: np.ndarray | None = None,
        refuse_share: np.ndarray | None = None,
    ) -> None:
        """``n`` rows spread evenly over [a, b), round robin over ``ids``, each with its pod's fluid latency."""
        if self.writer is None or n == 0:
            return
        cl = self.cluster
        assert cl is not None and cl.load_start_s is not None
        t = a + (np.arange(n) + 0.5) * (b - a) / n
        slot = np.arange(n) % len(ids)
        pods = ids[slot]
        codes = np.full(n, code, dtype=np.int16)
        lat = latency[slot] - self.m.overhead_s
        if self.curve is not None and code == 200:  # the backlog's wait plus a draw from the curve
            lat = lat - self.curve.mean_ms(self._draw_rate) / 1000.0
            lat = lat + self.curve.draw(self._draw_rate, n, self.rng) / 1000.0
        if late is not None:
            codes[late[slot]] = self.m.deadline_status
            lat = np.where(late[slot], self.m.deadline_s, lat)
        if refuse_share is not None:
            refused = self.rng.random(n) < refuse_share[slot]
            codes[refused] = 429
            lat = np.where(refused, 0.0, lat)
        self.recorded += n
        names = pa.array([p.name for p in cl.pods] + [None], pa.string())
        replica = names.take(pa.array(np.where(pods < 0, len(cl.pods), pods)))
        idx = np.minimum(np.searchsorted(self._ends, t - cl.load_start_s, side="right"), len(self._ends) - 1)
        phase = pa.array(self._phases).take(pa.array(idx))
        overhead = self.rng.choice(self._overhead, n) if len(self._overhead) else self.m.overhead_s
        self.writer.write(t, t + lat, codes, overhead, replica, phase)

    def pod_gone(self, pod: int, t_s: float) -> None:
        if pod < len(self.backlog):
            lost = self.backlog[pod]
            self.backlog[pod] = 0.0
            self._count(-1, int(round(lost)))

    def drained_at(self, pod: int, t_s: float) -> float:
        """When ``pod`` will have worked off its backlog (it gets nothing new)."""
        q = float(self.backlog[pod]) if pod < len(self.backlog) else 0.0
        return t_s + (q / self._mu if q > 0 and math.isfinite(self._mu) else 0.0)

    def gauges(self, pods: np.ndarray, t_s: float, since_s: np.ndarray) -> dict[str, np.ndarray]:
        self._grow(int(pods.max()))
        q = self.backlog[pods]
        frac = busy_share(self.busy, pods, t_s, since_s)
        if self.curve is not None:  # Little's law on the curve's latency
            curve, rate = self.curve, self._rate[pods]
            uniq, inv = np.unique(rate, return_inverse=True)
            mean_s = np.array([curve.mean_ms(float(r)) for r in uniq])[inv] / 1000.0
            unloaded_s = curve.mean_ms(curve.rates_rps[0]) / 1000.0
            return {"queue_depth": q + rate * np.maximum(mean_s - unloaded_s, 0.0), "in_flight": q + rate * mean_s,
                    "device_busy": frac}  # fmt: skip
        return {"queue_depth": q, "in_flight": q + frac, "device_busy": frac}

    def done_between(self, pods: np.ndarray, t0: float, t1: float) -> np.ndarray:
        self._grow(int(pods.max()))
        b0, b1 = max(int(math.floor(t0)), 0), min(int(math.floor(t1)), self.n_sec)
        return self.done_n[pods, b0:b1].sum(axis=1) if b1 > b0 else np.zeros(len(pods))

    def last_done(self) -> float:
        """When the pods' backlogs are worked off."""
        cl = self.cluster
        assert cl is not None
        ready = [p for p in cl.ready_ids()]
        q = float(self.backlog[ready].max()) if ready and len(self.backlog) else 0.0
        return 0.0 if q <= 0 or not math.isfinite(self._mu) else self._now + q / self._mu

    def finish(self, names: list[str]) -> None:
        if self.writer is not None:
            self.writer.close()

    def write_aggregates(self, path: Path) -> None:
        used = np.flatnonzero(self.agg[:, 0] > 0)
        ok = self.agg[used, 1]
        frame = pd.DataFrame(
            {
                "t_s": used.astype(float),
                "arrivals": self.agg[used, 0],
                "ok": ok,
                "refused": self.agg[used, 2],
                "timed_out": self.agg[used, 3],
                "latency_mean_ms": np.where(ok > 0, self.agg[used, 4] / np.maximum(ok, 1e-12), np.nan) * 1000.0,
                "latency_p95_ms": np.where(ok > 0, self.agg[used, 5] / np.maximum(ok, 1e-12), np.nan) * 1000.0,
            }
        )
        frame.to_parquet(path, index=False)
