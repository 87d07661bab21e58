"""Synthetic runs with known answers for compare's tests: autocorrelated latency, a chosen shift.

Latency of a request = the level of its 10 s window x a lognormal per-request factor x ``shift``;
the level follows an AR(1) process on the log scale (queues carry over from one window to the next,
so requests and windows are autocorrelated, as in a real run).  ``sample`` builds a ``RunSample`` in
memory; ``write_run`` writes the same data as a run folder (run.json, scenario.yaml, events.jsonl,
requests.parquet parts) that ``kibench compare`` reads.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from harness.compare import RunSample
from harness.model import SCHEMA_VERSION

SCENARIO = """name: synth
service: {replicas: 2, device_time_ms: 50}
load: {rate_rps: RATE, duration: DURATIONs}
slos:
  latency_ms: ["p(95) < 400"]
"""


def rows(seed: int, shift: float = 1.0, windows: int = 60, rate: float = 40.0, phi: float = 0.5,
         level_sigma: float = 0.03, request_sigma: float = 0.45, error_share: float = 0.0) -> pd.DataFrame:  # fmt: skip
    rng = np.random.default_rng(seed)
    duration = windows * 10.0 + 10.0  # 10 s of warm-up
    n = int(duration * rate)
    t = 1.0 + (np.arange(n) + 0.5) / rate
    level = np.zeros(int(duration // 10) + 2)
    for i in range(1, len(level)):
        level[i] = phi * level[i - 1] + rng.normal(0.0, level_sigma * np.sqrt(1 - phi**2))
    base = 60.0 * np.exp(level[((t - 1.0) // 10).astype(int)] + rng.normal(0.0, request_sigma, n))
    ok = rng.random(n) >= error_share
    return pd.DataFrame({"t_intended_s": t, "t_sent_s": t, "latency_ms": base * shift, "latency_raw_ms": base * shift,
                         "ok": ok, "status": np.where(ok, 200, 503).astype("int32"), "phase": "steady"})  # fmt: skip


def sample(seed: int, name: str = "r", **kw) -> RunSample:
    frame = rows(seed, **kw)
    duration = float(frame["t_intended_s"].iloc[-1] - 1.0)
    scenario = {"name": "synth", "load": {"rate_rps": kw.get("rate", 40.0), "duration": duration}}
    nan = np.full(len(frame), np.nan)
    return RunSample(Path(name), name, {"schema_version": SCHEMA_VERSION, "run_id": name, "platform": "local",
                                        "complete": True}, scenario,
                     frame["t_intended_s"].to_numpy(), frame["latency_ms"].to_numpy(), frame["ok"].to_numpy(),
                     nan, nan, 1.0, round(duration), 400.0, [])  # fmt: skip


def write_run(root: Path, seed: int, **kw) -> Path:
    frame = rows(seed, **kw)
    duration = round(float(frame["t_intended_s"].iloc[-1] - 1.0))
    rate = kw.get("rate", 40.0)
    root.mkdir(parents=True)
    (root / "scenario.yaml").write_text(SCENARIO.replace("RATE", f"{rate:g}").replace("DURATION", str(duration)))
    meta = {"schema_version": SCHEMA_VERSION, "run_id": root.name, "platform": "local", "started_at": "now",
            "complete": True, "environment": {"kibench": "0.1.0", "python": "3.11"}}  # fmt: skip
    (root / "run.json").write_text(json.dumps(meta))
    events = [{"t_s": 1.0, "kind": "load_start", "duration_s": float(duration)},
              {"t_s": 1.0 + duration + 0.5, "kind": "load_end"}]  # fmt: skip
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    parts = root / "requests.parquet"
    parts.mkdir()
    half = len(frame) // 2
    frame.iloc[:half].to_parquet(parts / "w0-00000.parquet", index=False)
    frame.iloc[half:].to_parquet(parts / "w0-00001.parquet", index=False)
    return root
