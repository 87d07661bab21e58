"""Model constants measured on a run folder (``kibench simulate --calibrate RUN_DIR``).

In: a measured run folder of the embedded platform (requests.parquet, events.jsonl, scenario.yaml).  Out:
``Calibration``: the HTTP path's overhead as an empirical distribution (latency minus the device time of
one request, from the seconds in which the service was not queueing: each second's median under twice
the device time) and the pods' start-up as a distribution (pod_scheduled → pod_ready of the pods scheduled
once the load ran, less the model load, the warm-up and half a readiness period, which the simulator adds
itself).  The simulator draws
from both, so its pod starts and its latency spread are those of the machine the run measured.
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

    def describe(self) -> dict[str, float | int | str | None]:
        def q(values: tuple[float, ...], p: float) -> float | None:
            return round(float(np.percentile(values, p)), 4) if values else None

        return {"source": self.source, "overhead_samples": len(self.overhead_ms),
                "overhead_p50_ms": q(self.overhead_ms, 50), "overhead_p95_ms": q(self.overhead_ms, 95),
                "process_start_samples": len(self.process_start_s),
                "process_start_p50_s": q(self.process_start_s, 50)}  # fmt: skip


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
    return Calibration(str(root), tuple(float(x) for x in overhead), tuple(starts))


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
