"""Per-request discrete-event serving: every arrival routed, queued, batched and answered.

In: the load's arrival schedule (``harness.load.arrivals.arrival_times`` over ``harness.load.shapes``'
segments: the same intended send times ``kibench run`` sends), the ``ServiceModel``, and from the
cluster the Ready pods of each interval between two control events.  Out: one row per request
(intended time, completion, status, replica) streamed to Parquet through ``RowWriter`` once no later
event can change it; per pod and second the device's busy time and the requests completed, from which
the scraped gauges (queue depth, in flight, device busy over 10 s) and the CPU use are read.

Routing is round robin over the Ready pods (an ingress; docs/simulate.md on per-connection balancing).
Each replica is a FIFO queue in front of one device.  For batch size 1 a whole interval is solved at
once with numpy (the Lindley recursion ``d_k = max(a_k, d_{k-1}) + s`` as a running maximum per
replica); an interval where a request would be refused (queue full) or give up (deadline) is replayed
request by request, as are batching profiles (a batch leaves when full or when its oldest request has
waited ``max_queue_delay``, never before the device is free).  A pod that goes away resets the requests
it still holds.

The load generator's cap (``max_in_flight``: ``load.max_concurrency`` users): an arrival that finds every
user busy, i.e. as many requests in flight as users once the answers due by its time plus the load's
``LATE_TOLERANCE_S`` are in, is dropped as ``harness.load.dispatch`` drops it: never sent, no row, counted
(``dropped``, per second in ``dropped_per_s``).  An interval in which the cap cannot be reached (requests
in flight + its arrivals under the cap) is solved as above; otherwise it is played arrival by arrival.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from harness.load.arrivals import arrival_times
from harness.load.dispatch import LATE_TOLERANCE_S
from harness.load.shapes import Segment
from harness.simulate.output import RowWriter, TokenColumns
from harness.simulate.service import ServiceModel

if TYPE_CHECKING:
    from harness.simulate.cluster import Cluster

BUSY_WINDOW_S = 10.0  # the service's device-busy gauge window (harness.service.config busy_window_s)
_CHUNK = 200_000
DROPPED = -2  # a row's code while it marks an arrival the load generator dropped (never written)


def busy_share(busy: np.ndarray, pods: np.ndarray, t_s: float, since_s: np.ndarray) -> np.ndarray:
    """Busy share of each pod over ``[max(t - 10 s, since), t)``, from its busy seconds per second."""
    lo = np.maximum(t_s - BUSY_WINDOW_S, since_s)
    span = t_s - lo
    b1 = min(int(math.floor(t_s)), busy.shape[1])
    b0 = np.clip(np.floor(lo).astype(np.int64), 0, b1)
    common = int(b0.min()) if len(b0) else b1
    window = busy[pods, common:b1]
    if len(pods) and window.shape[1]:
        cols = np.arange(common, b1)[None, :]
        total = np.where(cols >= b0[:, None], window, 0.0).sum(axis=1)
    else:
        total = np.zeros(len(pods))
    return np.where(span > 0, np.minimum(1.0, np.minimum(total, span) / np.maximum(span, 1e-12)), 0.0)


class _Rows:
    """The rows of one interval; ``done`` is NaN while a request waits for its batch."""

    __slots__ = ("t", "done", "code", "pod", "t_end")

    def __init__(self, t: np.ndarray, pod: np.ndarray, t_end: float) -> None:
        self.t = t
        self.done = np.full(len(t), np.nan)
        self.code = np.full(len(t), 200, dtype=np.int16)
        self.pod = pod
        self.t_end = t_end

    def subset(self, keep: np.ndarray) -> _Rows:
        out = _Rows(self.t[keep], self.pod[keep], self.t_end)
        out.done, out.code = self.done[keep], self.code[keep]
        return out


class DesEngine:
    """The request engine of the discrete-event mode (cluster.RequestEngine)."""

    def __init__(
        self,
        model: ServiceModel,
        segments: tuple[Segment, ...],
        process: str,
        burstiness: float,
        seed: int,
        writer: RowWriter | None,
        horizon_s: float,
        overhead_ms: tuple[float, ...] = (),
        max_in_flight: int | None = None,
    ) -> None:
        self.m = model
        self.cap = max_in_flight
        self._open = np.empty(0)  # answer times of sent requests still in flight (known ones; cap only)
        self._queued_n = 0  # batching: requests waiting for their batch (their answer time not known yet)
        self._new_done: list[float] = []  # batching: answer times of batches started since the last merge
        self.dropped = 0
        self._overhead = np.asarray(overhead_ms, dtype=float) / 1000.0  # measured samples (calibrate.py)
        self._rng = np.random.default_rng(seed)
        self.segments = segments
        self._ends = np.array([s.end_s for s in segments])
        self._phases = pa.array([s.phase for s in segments] + [segments[-1].phase if segments else ""])
        self._times = arrival_times(segments, process, burstiness, seed)  # type: ignore[arg-type]
        self._buf = np.empty(0)
        self._exhausted = False
        self.writer = writer
        self.cluster: Cluster | None = None
        self.n_sec = int(math.ceil(horizon_s)) + 4
        self.free_at = np.zeros(16)
        self.busy = np.zeros((16, self.n_sec), dtype=np.float32)
        self.done_n = np.zeros((16, self.n_sec), dtype=np.float32)
        self.dropped_per_s = np.zeros(self.n_sec)
        self.queues: dict[int, deque[tuple[float, _Rows, int]]] = {}
        self.batch_end: dict[int, tuple[float, int]] = {}  # pod -> (end of its current batch, size)
        self.chunks: deque[_Rows] = deque()
        self.rr = 0
        self.generated = 0
        self.recorded = 0
        self.codes: dict[int, int] = {}
        self.names: list[str] = []

    # ---- arrivals --------------------------------------------------------------------------------

    def _take(self, until_rel_s: float) -> np.ndarray:
        """Arrival times (since load start) before ``until_rel_s``."""
        while not self._exhausted and (len(self._buf) == 0 or self._buf[-1] < until_rel_s):
            more = np.fromiter(itertools.islice(self._times, _CHUNK), dtype=np.float64)
            if len(more) < _CHUNK:
                self._exhausted = True
            self._buf = np.concatenate([self._buf, more]) if len(self._buf) else more
        k = int(np.searchsorted(self._buf, until_rel_s, side="left"))
        out, self._buf = self._buf[:k], self._buf[k:]
        return out

    # ---- per-pod arrays --------------------------------------------------------------------------

    def _grow(self, pod: int) -> None:
        while pod >= len(self.free_at):
            n = len(self.free_at)
            self.free_at = np.concatenate([self.free_at, np.zeros(n)])
            self.busy = np.vstack([self.busy, np.zeros((n, self.n_sec), dtype=np.float32)])
            self.done_n = np.vstack([self.done_n, np.zeros((n, self.n_sec), dtype=np.float32)])

    def _sec(self, t: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(t).astype(np.int64), 0, self.n_sec - 1)

    def _account(self, pods: np.ndarray, start: np.ndarray, end: np.ndarray, served: np.ndarray) -> None:
        """Busy time per pod and second (intervals shorter than a second: at most two buckets)."""
        if len(pods) == 0:
            return
        b0, b1 = self._sec(start), self._sec(end)
        first = np.minimum(end, b0 + 1.0) - start
        np.add.at(self.busy, (pods, b0), first.astype(np.float32))
        spill = b1 > b0
        if spill.any():
            np.add.at(self.busy, (pods[spill], b1[spill]), (end[spill] - b1[spill]).astype(np.float32))
        np.add.at(self.done_n, (pods, b1), served.astype(np.float32))

    # ---- serving ---------------------------------------------------------------------------------

    def arrivals_until(self, t1: float) -> np.ndarray:
        """The arrivals since the last call up to ``t1`` (cluster times); none before the load or once drained."""
        cl = self.cluster
        assert cl is not None
        if cl.load_start_s is None or (self._exhausted and len(self._buf) == 0):
            return np.empty(0)
        return self._take(t1 - cl.load_start_s) + cl.load_start_s

    def advance(self, t0: float, t1: float, ready: list[int]) -> None:
        cl = self.cluster
        assert cl is not None
        arrivals = self.arrivals_until(t1)
        if len(arrivals):
            self._serve(arrivals, t1, ready)
        if self.m.max_batch > 1:
            for pod in list(self.queues):
                self._dispatch(pod, t1)
        if self.cap is not None and self._new_done:
            self._open = np.concatenate([self._open, np.asarray(self._new_done)])
            self._new_done.clear()
        self._flush(t1 - self.m.deadline_s - cl.sc.platform.pod.termination_grace_period - 2.0)

    def _serve(self, a: np.ndarray, t1: float, ready: list[int]) -> None:
        n = len(a)
        self.generated += n
        if not ready:
            rows = _Rows(a, np.full(n, -1, dtype=np.int32), t1)
            rows.code[:] = 503
            rows.done[:] = a
            self.chunks.append(rows)
            return
        ids = np.asarray(ready, dtype=np.int32)
        if self.cap is not None:
            self._open = self._open[self._open > a[0] + LATE_TOLERANCE_S]
            if len(self._open) + self._queued_n + n >= self.cap:
                self._serve_capped(a, t1, ids)
                return
        pods = ids[(self.rr + np.arange(n)) % len(ids)]
        self.rr = (self.rr + n) % len(ids)
        self._grow(int(ids.max()))
        rows = _Rows(a, pods, t1)
        self.chunks.append(rows)
        if self.m.max_batch == 1:
            self._lindley(rows)
            if self.cap is not None:
                self._open = np.concatenate([self._open, rows.done])
        else:
            for i in range(n):
                self._arrive_batched(rows, i)

    def _serve_capped(self, a: np.ndarray, t1: float, ids: np.ndarray) -> None:
        """Arrival by arrival: dropped when every user is busy (module docstring), else routed and served."""
        assert self.cap is not None
        n = len(a)
        self._grow(int(ids.max()))
        rows = _Rows(a, np.full(n, -1, dtype=np.int32), t1)
        self.chunks.append(rows)
        s = self.m.base_s + self.m.per_item_s
        heap = self._open.tolist()
        heapq.heapify(heap)
        for i in range(n):
            ai = float(a[i])
            while heap and heap[0] <= ai + LATE_TOLERANCE_S:
                heapq.heappop(heap)
            if len(heap) + self._queued_n >= self.cap:
                rows.code[i], rows.done[i] = DROPPED, ai
                self.dropped += 1
                self.dropped_per_s[min(int(ai), self.n_sec - 1)] += 1
                continue
            rows.pod[i] = ids[self.rr % len(ids)]
            self.rr = (self.rr + 1) % len(ids)
            if self.m.max_batch == 1:
                self._arrive_single(rows, i, s)
                heapq.heappush(heap, float(rows.done[i]))
            else:
                self._arrive_batched(rows, i)
                for done in self._new_done:
                    heapq.heappush(heap, done)
                self._new_done.clear()
        self._open = np.asarray(heap)

    def _lindley(self, rows: _Rows) -> None:
        """Batch size 1: every replica's completions at once; replicas that refuse or give up: one by one."""
        s = self.m.base_s + self.m.per_item_s
        order = np.argsort(rows.pod, kind="stable")
        pods, a = rows.pod[order], rows.t[order]
        starts = np.flatnonzero(np.r_[True, pods[1:] != pods[:-1]])
        group = np.cumsum(np.r_[False, pods[1:] != pods[:-1]])
        k = np.arange(len(a)) - starts[group]
        c = a - k * s
        span = float(c.max() - c.min()) + 1.0
        cm = np.maximum.accumulate(c + group * span) - group * span
        done = (k + 1) * s + np.maximum(self.free_at[pods], cm)
        wait = done - s - a
        waiting = np.where(wait > 1e-12, np.ceil(wait / s - 1e-9) - 1, 0)
        bad_rows = (wait > self.m.deadline_s) | (waiting >= self.m.max_queue)
        if bad_rows.any():
            bad = np.unique(pods[bad_rows])
            keep = ~np.isin(pods, bad)
        else:
            bad, keep = np.empty(0, dtype=np.int32), np.ones(len(a), dtype=bool)
        idx = order[keep]
        rows.done[idx] = done[keep]
        last = np.r_[pods[1:] != pods[:-1], True] & keep
        self.free_at[pods[last]] = done[last]
        self._account(pods[keep], done[keep] - s, done[keep], np.ones(int(keep.sum())))
        for pod in bad:
            for i in order[pods == pod]:
                self._arrive_single(rows, int(i), s)

    def _arrive_single(self, rows: _Rows, i: int, s: float) -> None:
        pod, a = int(rows.pod[i]), float(rows.t[i])
        free = self.free_at[pod]
        wait = max(free - a, 0.0)
        if wait > 1e-12 and math.ceil(wait / s - 1e-9) - 1 >= self.m.max_queue:
            rows.code[i], rows.done[i] = 429, a
            return
        if wait > self.m.deadline_s:  # left the queue when its deadline passed: the device never saw it
            rows.code[i], rows.done[i] = self.m.deadline_status, a + self.m.deadline_s
            return
        start = a + wait
        rows.done[i] = self.free_at[pod] = start + s
        self._account(np.array([pod]), np.array([start]), np.array([start + s]), np.ones(1))

    def _arrive_batched(self, rows: _Rows, i: int) -> None:
        pod, a = int(rows.pod[i]), float(rows.t[i])
        self._dispatch(pod, a)
        queue = self.queues.setdefault(pod, deque())
        if len(queue) >= self.m.max_queue:
            rows.code[i], rows.done[i] = 429, a
            return
        queue.append((a, rows, i))
        self._queued_n += 1
        self._dispatch(pod, a)

    def _dispatch(self, pod: int, until: float) -> None:
        """Start every batch of ``pod`` whose leaving time is at or before ``until``."""
        queue = self.queues.get(pod)
        m = self.m
        while queue:
            full = len(queue) >= m.max_batch
            leave = max(self.free_at[pod], queue[m.max_batch - 1][0] if full else queue[0][0] + m.max_delay_s)
            if leave > until:
                return
            while queue and queue[0][0] + m.deadline_s < leave:  # gave up while waiting
                _, rows, i = queue.popleft()
                self._queued_n -= 1
                rows.code[i], rows.done[i] = m.deadline_status, rows.t[i] + m.deadline_s
            if not queue:
                return
            batch: list[tuple[float, _Rows, int]] = []
            while queue and len(batch) < m.max_batch and queue[0][0] <= leave:
                batch.append(queue.popleft())
            self._queued_n -= len(batch)
            end = leave + m.batch_s(len(batch))
            if self.cap is not None:
                self._new_done.extend([end] * len(batch))
            for _, rows, i in batch:
                rows.done[i] = end
            self.free_at[pod] = end
            self.batch_end[pod] = (end, len(batch))
            self._account(np.array([pod]), np.array([leave]), np.array([end]), np.array([float(len(batch))]))

    # ---- what the cluster asks -------------------------------------------------------------------

    def pod_gone(self, pod: int, t_s: float) -> None:
        """The pod's container stopped: what it still held is reset."""
        for rows in self.chunks:
            if rows.t_end < t_s - self.m.deadline_s - 60:
                continue
            hit = (rows.pod == pod) & (rows.code == 200) & ~(rows.done <= t_s)
            if hit.any():
                rows.code[hit], rows.done[hit] = -1, t_s
        dropped_queue = self.queues.pop(pod, None)
        self._queued_n -= len(dropped_queue) if dropped_queue else 0
        if pod < len(self.free_at):
            self.free_at[pod] = t_s

    def drained_at(self, pod: int, t_s: float) -> float:
        """When ``pod`` will have answered what it holds at ``t_s`` (it gets nothing new)."""
        if pod >= len(self.free_at):
            return t_s
        end = max(float(self.free_at[pod]), t_s)
        queued = len(self.queues.get(pod) or ())
        if queued:
            end += math.ceil(queued / self.m.max_batch) * self.m.batch_s(self.m.max_batch)
        return end

    def gauges(self, pods: np.ndarray, t_s: float, since_s: np.ndarray) -> dict[str, np.ndarray]:
        """Queue depth, in flight and device busy (share of the last 10 s) of ``pods`` at ``t_s``."""
        self._grow(int(pods.max()))
        if self.m.max_batch == 1:
            s = self.m.base_s + self.m.per_item_s
            backlog = self.free_at[pods] - t_s
            in_flight = np.where(backlog > 1e-12, np.ceil(backlog / s - 1e-9), 0.0)
            queued = np.maximum(in_flight - 1, 0.0)
        else:
            queued = np.array([float(len(self.queues.get(int(p)) or ())) for p in pods])
            ends = [self.batch_end.get(int(p), (0.0, 0)) for p in pods]
            running = np.array([float(size) if end > t_s else 0.0 for end, size in ends])
            in_flight = queued + running
        return {"queue_depth": queued, "in_flight": in_flight, "device_busy": busy_share(self.busy, pods, t_s, since_s)}

    def done_between(self, pods: np.ndarray, t0: float, t1: float) -> np.ndarray:
        self._grow(int(pods.max()))
        b0, b1 = max(int(math.floor(t0)), 0), min(int(math.floor(t1)), self.n_sec)
        return self.done_n[pods, b0:b1].sum(axis=1) if b1 > b0 else np.zeros(len(pods))

    def last_done(self) -> float:
        """When the last request answered so far (or waiting) will have its answer."""
        latest = max((float(np.nanmax(r.done)) for r in self.chunks if np.isfinite(r.done).any()), default=0.0)
        if any(self.queues.values()):
            return max(latest, max(q[-1][0] + self.m.deadline_s for q in self.queues.values() if q))
        return latest

    # ---- rows ------------------------------------------------------------------------------------

    def _flush(self, before_s: float) -> None:
        while self.chunks and self.chunks[0].t_end < before_s:
            self._write(self.chunks.popleft())

    def finish(self, names: list[str]) -> None:
        self.names = names
        while self.chunks:
            rows = self.chunks.popleft()
            open_ = np.isnan(rows.done)
            rows.code[open_] = self.m.deadline_status
            rows.done[open_] = rows.t[open_] + self.m.deadline_s
            self._write(rows)
        if self.writer is not None:
            self.writer.close()

    def _write(self, rows: _Rows) -> None:
        sent = rows.code != DROPPED
        if not sent.all():
            rows = rows.subset(sent)
        codes, counts = np.unique(rows.code, return_counts=True)
        for c, k in zip(codes, counts, strict=True):
            self.codes[int(c)] = self.codes.get(int(c), 0) + int(k)
        self.recorded += len(rows.t)
        if self.writer is None:
            return
        cl = self.cluster
        assert cl is not None and cl.load_start_s is not None
        names = pa.array([p.name for p in cl.pods] + [None], pa.string())
        replica = names.take(pa.array(np.where(rows.pod < 0, len(cl.pods), rows.pod)))
        phase_idx = np.searchsorted(self._ends, rows.t - cl.load_start_s, side="right")
        phase = self._phases.take(pa.array(np.minimum(phase_idx, len(self._ends))))
        overhead = self._rng.choice(self._overhead, len(rows.t)) if len(self._overhead) else self.m.overhead_s
        self.writer.write(rows.t, rows.done, rows.code, overhead, replica, phase, self._token_columns(rows))

    def _token_columns(self, rows: _Rows) -> TokenColumns | None:
        """A completions workload's token figures (llm.py); none here."""
        return None
