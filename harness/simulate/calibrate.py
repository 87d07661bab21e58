"""Model constants measured on a run folder (``kibench simulate --calibrate RUN_DIR``).

In: a measured run folder of the embedded platform (requests.parquet, events.jsonl, scenario.yaml).  Out:
``Calibration``: the HTTP path's overhead as an empirical distribution (latency minus the device time of
one request, from the seconds in which the service was not queueing: each second's median under twice
the device time), the HPA's sync phase (``sync_phase_s``: its first scale-up's time after load start, modulo
the sync period) and the pods' start-up as a distribution (pod_scheduled → pod_ready of the pods scheduled
once the load ran, less the model load, the warm-up and half a readiness period, which the simulator adds
itself).  The simulator draws from both distributions and syncs its HPA at that phase, so its pod starts, its
latency spread and its HPA's timing are those of the run it is compared with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from harness.errors import RunFolderError
from harness.scenario import load_scenario
from harness.service.profiles import ClassicProfile, resolve


@dataclass(frozen=True)
class Calibration:
    source: str
    overhead_ms: tuple[float, ...]  # samples
    process_start_s: tuple[float, ...]  # samples
    hpa_phase_s: float | None = None  # the HPA's syncs, seconds after load start (mod sync_period)

    def describe(self) -> dict[str, float | int | str | None]:
        def q(values: tuple[float, ...], p: float) -> float | None:
            return round(float(np.percentile(values, p)), 4) if values else None

        return {"source": self.source, "overhead_samples": len(self.overhead_ms),
                "overhead_p50_ms": q(self.overhead_ms, 50), "overhead_p95_ms": q(self.overhead_ms, 95),
                "process_start_samples": len(self.process_start_s),
                "process_start_p50_s": q(self.process_start_s, 50), "hpa_phase_s": self.hpa_phase_s}  # fmt: skip


def calibrate(run_dir: str | Path, max_samples: int = 20_000) -> Calibration:
    """Overhead and pod start-up distributions of a measured run (module docstring)."""
    root = Path(run_dir)
    try:
        scenario = load_scenario(root / "scenario.yaml")
        requests = pd.read_parquet(root / "requests.parquet", columns=["t_intended_s", "latency_ms", "ok"])
        events = [json.loads(line) for line in (root / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    except (OSError, ValueError) as exc:
        raise RunFolderError(f"{root}: cannot calibrate from it ({exc}); give a measured run folder") from exc
    profile = resolve(scenario.service.profile, scenario.service.device_time_ms)
    if not isinstance(profile, ClassicProfile):
        raise RunFolderError(f"{root}: calibration needs a run of a classic profile")
    device_ms = profile.batch_ms(1)
    ok = requests[requests["ok"].astype(bool)]
    second = np.floor(ok["t_intended_s"].to_numpy())
    medians = ok.groupby(second)["latency_ms"].transform("median").to_numpy()
    calm = ok["latency_ms"].to_numpy()[medians < 2 * device_ms + 5.0]
    overhead = np.clip(calm - device_ms, 0.0, None)
    if len(overhead) > max_samples:
        overhead = np.random.default_rng(0).choice(overhead, max_samples, replace=False)
    fixed = scenario.service.cold_start + 2 * device_ms / 1000.0 + scenario.platform.probes.readiness.period / 2
    starts = _process_starts(events, fixed, after_s=_load_start_s(events))
    phase = sync_phase_s(events, scenario.platform.hpa.sync_period) if scenario.platform.hpa.enabled else None
    return Calibration(str(root), tuple(float(x) for x in overhead), tuple(starts), phase)


def _load_start_s(events: list[dict]) -> float:
    return next((float(e["t_s"]) for e in events if e.get("kind") == "load_start"), float("-inf"))


def _process_starts(events: list[dict], fixed_s: float, after_s: float) -> list[float]:
    """Pod start-ups (scheduled → Ready, less ``fixed_s``) of the pods scheduled once the load ran: the ones
    the simulator starts (replacements, scale-ups).  The deploy's pods start together on a cold host, each
    slower than a pod started later (measured: 1.93 s against 1.54 s), so they count only when no pod
    started under load."""
    scheduled = {e["pod"]: float(e["t_s"]) for e in events if e.get("kind") == "pod_scheduled"}
    ready = [(scheduled[e["pod"]], float(e["t_s"])) for e in events
             if e.get("kind") == "pod_ready" and e.get("pod") in scheduled]  # fmt: skip
    later = [(s, r) for s, r in ready if s >= after_s] or ready
    return [max(r - s - fixed_s, 0.05) for s, r in later]


def sync_phase_s(events: list[dict], sync_period_s: float) -> float | None:
    """When the HPA synced in a measured run, as seconds after load start modulo ``sync_period_s`` (from its
    first scale event; None without one).  The phase is a random initial condition of each run (where the load
    falls between two syncs), not a model constant, and a spike's queueing depends on it by up to a sync
    period of lag: a comparison with a measured run plays it at the measured phase."""
    start = _load_start_s(events)
    scales = [float(e["t_s"]) for e in events if e.get("kind") == "scale" and e.get("source") == "hpa"]
    if not scales or start == float("-inf"):
        return None
    return round((scales[0] - start) % sync_period_s, 4)


def hpa_phase_s(run_dir: str | Path) -> float | None:
    """``sync_phase_s`` of a run folder (None when it has no HPA scale event or cannot be read)."""
    root = Path(run_dir)
    try:
        scenario = load_scenario(root / "scenario.yaml")
        events = [json.loads(line) for line in (root / "events.jsonl").read_text(encoding="utf-8").splitlines()]
    except (OSError, ValueError):
        return None
    return sync_phase_s(events, scenario.platform.hpa.sync_period) if scenario.platform.hpa.enabled else None
