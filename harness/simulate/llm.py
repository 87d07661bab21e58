"""Per-request continuous batching (an LLM profile) in the discrete-event mode.

In: the ``DesEngine``'s arrivals and routing, an ``LLMProfile`` (``harness.service.profiles``: the data the
reference service runs with) and the completions workload (prompt and output lengths drawn as the load
draws them: ``harness.load.workloads.draw_length`` with the load process's seed, in its order).  Out: the
DES's rows with each request's first-token time, inter-token gaps and tokens out, and the gauges the HPA
reads (queue depth: sequences waiting to join; in flight: waiting + running; device busy).

Each replica plays ``harness.service.continuous``'s engine step by step: at a step's start the waiting
sequences that have arrived join the running set (up to ``max_num_seqs``; an idle engine starts at the
first arrival and takes in those within ``ADMIT_WINDOW_S`` of it); the step decodes one token for every
prefilled sequence and prefills the others within ``max_num_batched_tokens``, taking
``step_base + step_per_seq x decoding + prefill_per_token x prefill_tokens``; a sequence whose prefill
completes emits its first token at the step's end; every sequence generates ``max_tokens`` tokens.  More
than ``max_queue`` waiting: 429.  No first token within the service's ``request_timeout``: 504; the whole
stream over the client's ``load.timeout``: a client timeout; either leaves the engine at the next step.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass

import numpy as np

from harness.load.dispatch import LATE_TOLERANCE_S
from harness.load.workloads import _WORDS, draw_length
from harness.scenario import CompletionsWorkload
from harness.service.continuous import ADMIT_WINDOW_S, plan_step
from harness.service.profiles import LLMProfile
from harness.simulate.des import DROPPED, DesEngine, _Rows, busy_share
from harness.simulate.output import TokenColumns


class _TokenRows(_Rows):
    """The rows of one interval, with each request's lengths and token figures."""

    __slots__ = ("prompt", "max_tokens", "first", "itl_sum", "itl_max")

    def __init__(self, t: np.ndarray, pod: np.ndarray, t_end: float, prompt: np.ndarray, max_tokens: np.ndarray):
        super().__init__(t, pod, t_end)
        self.prompt, self.max_tokens = prompt, max_tokens
        self.first = np.full(len(t), np.nan)
        self.itl_sum = np.zeros(len(t))
        self.itl_max = np.zeros(len(t))

    def subset(self, keep: np.ndarray) -> _TokenRows:
        out = _TokenRows(self.t[keep], self.pod[keep], self.t_end, self.prompt[keep], self.max_tokens[keep])
        out.done, out.code = self.done[keep], self.code[keep]
        out.first, out.itl_sum, out.itl_max = self.first[keep], self.itl_sum[keep], self.itl_max[keep]
        return out


@dataclass(eq=False)
class _Seq:
    rows: _TokenRows
    i: int
    t_s: float
    prompt_tokens: int
    max_tokens: int
    prefilled: int = 0
    emitted: int = 0
    last_s: float = 0.0
    over: bool = False  # answered, given up or reset: leaves at the next step


@dataclass
class _Replica:
    waiting: deque[_Seq]
    running: list[_Seq]
    free_at_s: float = 0.0


class LlmEngine(DesEngine):
    """The DES request engine for an LLM profile (module docstring)."""

    def __init__(self, *args: object, profile: LLMProfile, workload: CompletionsWorkload, load_seed: int,
                 service_timeout_s: float, client_timeout_s: float, **kwargs: object) -> None:  # fmt: skip
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.profile = profile
        self.workload = workload
        self._lengths = random.Random(load_seed * 1009 + 0 + 1)  # harness.load.session: seed * 1009 + worker + 1
        self.service_timeout_s = service_timeout_s
        self.client_timeout_s = client_timeout_s
        self.replicas: dict[int, _Replica] = {}
        self._open_seqs = 0  # sequences waiting or running, every replica (the load's requests in flight)

    def _draw(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(prompt tokens, max_tokens) of the next ``n`` requests, drawn as the load's ``Requests`` draws them."""
        prompt, out = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
        rng, w = self._lengths, self.workload
        for k in range(n):
            out[k] = draw_length(w.output_tokens, rng)
            prompt[k] = draw_length(w.prompt_tokens, rng)
            rng.randrange(len(_WORDS))  # the prompt's first word (make_prompt)
        return np.maximum(prompt, 1), np.maximum(out, 1)

    # ---- serving ---------------------------------------------------------------------------------

    def advance(self, t0: float, t1: float, ready: list[int]) -> None:
        cl = self.cluster
        assert cl is not None
        arrivals = self.arrivals_until(t1)
        if len(arrivals):
            self._route(arrivals, t1, ready)
        for pod in list(self.replicas):
            self._run(pod, t1)
        self._flush(t1 - self.client_timeout_s - cl.sc.platform.pod.termination_grace_period - 2.0)

    def _route(self, a: np.ndarray, t1: float, ready: list[int]) -> None:
        n = len(a)
        self.generated += n
        prompt, out = self._draw(n)
        if not ready:
            rows = _TokenRows(a, np.full(n, -1, dtype=np.int32), t1, prompt, out)
            rows.code[:], rows.done[:] = 503, a
            self.chunks.append(rows)
            return
        ids = np.asarray(ready, dtype=np.int32)
        pods = ids[(self.rr + np.arange(n)) % len(ids)]
        self.rr = (self.rr + n) % len(ids)
        self._grow(int(ids.max()))
        rows = _TokenRows(a, pods, t1, prompt, out)
        self.chunks.append(rows)
        for i in range(n):
            pod, ai = int(pods[i]), float(a[i])
            if self.cap is not None and self._open_seqs >= self.cap:  # every user busy? (dispatch.py's rule)
                for other in list(self.replicas):
                    self._run(other, ai + LATE_TOLERANCE_S)
                if self._open_seqs >= self.cap:
                    rows.code[i], rows.done[i] = DROPPED, ai
                    self.dropped += 1
                    self.dropped_per_s[min(int(ai), self.n_sec - 1)] += 1
                    continue
            self._run(pod, ai)  # the engine's steps that started before this arrival
            rep = self.replicas.setdefault(pod, _Replica(deque(), []))
            if len(rep.waiting) >= self.m.max_queue:
                rows.code[i], rows.done[i] = 429, a[i]
                continue
            rep.waiting.append(_Seq(rows, i, ai, int(prompt[i]), int(out[i])))
            self._open_seqs += 1

    def _give_up(self, seq: _Seq, start_s: float) -> bool:
        """A sequence past a deadline at ``start_s`` ends (504 before its first token, else the client's)."""
        if seq.emitted == 0 and seq.t_s + self.service_timeout_s < start_s <= seq.t_s + self.client_timeout_s:
            seq.rows.code[seq.i], seq.rows.done[seq.i] = 504, seq.t_s + self.service_timeout_s
        elif seq.t_s + self.client_timeout_s < start_s:
            seq.rows.code[seq.i], seq.rows.done[seq.i] = 0, seq.t_s + self.client_timeout_s
        else:
            return False
        self._end(seq)
        return True

    def _end(self, seq: _Seq) -> None:
        if not seq.over:
            seq.over = True
            self._open_seqs -= 1

    def _run(self, pod: int, until_s: float) -> None:
        """Play ``pod``'s engine: every step that starts at or before ``until_s``."""
        rep = self.replicas.get(pod)
        if rep is None:
            return
        p = self.profile
        while True:
            rep.running = [s for s in rep.running if not s.over]
            if not rep.running and not rep.waiting:
                return
            if rep.running:
                start = admit = rep.free_at_s
            else:
                start = max(rep.free_at_s, rep.waiting[0].t_s)
                admit = start + ADMIT_WINDOW_S
            if start > until_s:
                return
            while rep.waiting and len(rep.running) < p.max_num_seqs and rep.waiting[0].t_s <= admit:
                seq = rep.waiting.popleft()
                if not self._give_up(seq, start):
                    rep.running.append(seq)
            for seq in rep.running:
                self._give_up(seq, start)
            rep.running = [s for s in rep.running if not s.over]
            if not rep.running:
                rep.free_at_s = max(rep.free_at_s, start)
                continue
            decoding, chunks = plan_step(rep.running, p.max_num_batched_tokens)
            end = start + p.step_ms(len(decoding), sum(take for _, take in chunks)) / 1000.0
            rep.free_at_s = end
            for seq in decoding:
                self._emit(seq, end)
            for seq, take in chunks:
                seq.prefilled += take
                if seq.prefilled >= seq.prompt_tokens:
                    self._emit(seq, end)
            self._account(np.array([pod]), np.array([start]), np.array([end]), np.array([0.0]))

    def _emit(self, seq: _Seq, end_s: float) -> None:
        rows, i = seq.rows, seq.i
        if seq.emitted == 0:
            rows.first[i] = end_s
        else:
            gap = (end_s - seq.last_s) * 1000.0
            rows.itl_sum[i] += gap
            rows.itl_max[i] = max(rows.itl_max[i], gap)
        seq.emitted += 1
        seq.last_s = end_s
        if seq.emitted >= seq.max_tokens:
            rows.done[i] = end_s
            self.done_n[int(rows.pod[i]), min(int(end_s), self.n_sec - 1)] += 1
            self._end(seq)

    # ---- what the cluster asks -------------------------------------------------------------------

    def pod_gone(self, pod: int, t_s: float) -> None:
        super().pod_gone(pod, t_s)
        rep = self.replicas.pop(pod, None)
        for seq in [*(rep.waiting if rep else ()), *(rep.running if rep else ())]:
            self._end(seq)

    def drained_at(self, pod: int, t_s: float) -> float:
        rep = self.replicas.get(pod)
        if rep is None or not (rep.running or rep.waiting):
            return t_s
        left = max((s.max_tokens - s.emitted for s in [*rep.running, *rep.waiting]), default=0)
        rounds = 1 + len(rep.waiting) // max(self.profile.max_num_seqs, 1)
        step_s = self.profile.step_ms(len(rep.running)) / 1000.0
        return max(rep.free_at_s, t_s) + left * step_s * rounds

    def gauges(self, pods: np.ndarray, t_s: float, since_s: np.ndarray) -> dict[str, np.ndarray]:
        self._grow(int(pods.max()))
        for pod in pods:
            self._run(int(pod), t_s)
        reps = [self.replicas.get(int(p)) for p in pods]
        waiting = np.array([float(len(r.waiting)) if r else 0.0 for r in reps])
        running = np.array([float(sum(1 for s in r.running if not s.over)) if r else 0.0 for r in reps])
        return {"queue_depth": waiting, "in_flight": waiting + running,
                "device_busy": busy_share(self.busy, pods, t_s, since_s)}  # fmt: skip

    def last_done(self) -> float:
        latest = max((float(np.nanmax(r.done)) for r in self.chunks if np.isfinite(r.done).any()), default=0.0)
        pending = [s.t_s + self.client_timeout_s for r in self.replicas.values() for s in [*r.waiting, *r.running]
                   if not s.over]  # fmt: skip
        return max([latest, *pending])

    # ---- rows ------------------------------------------------------------------------------------

    def finish(self, names: list[str]) -> None:
        for rows in self.chunks:
            open_ = np.isnan(rows.done)
            rows.code[open_] = 0
            rows.done[open_] = rows.t[open_] + self.client_timeout_s
        super().finish(names)

    def _token_columns(self, rows: _Rows) -> TokenColumns | None:
        assert isinstance(rows, _TokenRows)
        if not self.workload.stream:
            return TokenColumns(rows.done, np.full(len(rows.t), np.nan), np.full(len(rows.t), np.nan),
                                rows.max_tokens)  # fmt: skip
        gaps = np.maximum(rows.max_tokens - 1, 1)
        itl_mean = np.where(rows.max_tokens > 1, rows.itl_sum / gaps, np.nan)
        itl_max = np.where(rows.max_tokens > 1, rows.itl_max, np.nan)
        return TokenColumns(rows.first, itl_mean, itl_max, rows.max_tokens)
