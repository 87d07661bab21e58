"""A synthetic run folder for analysis tests: the files a run writes, with the numbers a test chooses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.model import SCHEMA_VERSION


def write_run(
    root: Path,
    scenario: str,
    n: int = 100,
    n_errors: int = 0,
    rate_rps: float = 10.0,
    stats: list[dict[str, Any]] | None = None,
    events: list[dict[str, Any]] | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """``n`` requests at ``rate_rps`` from t = 1 s (latency 50 ms, the first ``n_errors`` answered 404),
    load_start / load_end around them, and one load process that sent every arrival unless ``stats`` says
    otherwise.  ``events`` are added to events.jsonl; ``meta`` to run.json."""
    root.mkdir(parents=True)
    (root / "scenario.yaml").write_text(scenario)
    run_meta = {"schema_version": SCHEMA_VERSION, "run_id": "r1", "platform": "local", "started_at": "now"}
    (root / "run.json").write_text(json.dumps({**run_meta, "complete": True, **(meta or {})}))
    t_int = 1.0 + np.arange(n) / rate_rps
    ok = np.arange(n) >= n_errors
    frame = pd.DataFrame(
        {
            "t_intended_s": t_int,
            "t_sent_s": t_int + 0.001,
            "latency_ms": 50.0,
            "latency_raw_ms": 49.0,
            "status": np.where(ok, 200, 404).astype("int32"),
            "ok": ok,
            "error": [None if o else "LocustBadStatusCode: URL http://x/missing: code=404" for o in ok],
            "replica": "a",
            "phase": "steady",
            "worker": "w0",
        }
    )
    (root / "requests.parquet").mkdir()
    frame.to_parquet(root / "requests.parquet" / "w0-00000.parquet", index=False)
    timeline = pd.DataFrame({"t_s": [0.0, 1.0], "desired_replicas": 1, "ready_replicas": 1})
    timeline.to_parquet(root / "timeline.parquet", index=False)
    duration = n / rate_rps
    base = [{"t_s": 1.0, "kind": "load_start", "duration_s": duration}, {"t_s": 1.0 + duration, "kind": "load_end"}]
    all_events = sorted([*base, *(events or [])], key=lambda e: e["t_s"])
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in all_events))
    default_stats = {"worker": "w0", "model": "open", "arrivals": "uniform", "requested_arrivals": n, "scheduled": n}
    for i, stat in enumerate(stats or [{}]):
        (root / f"load-w{i}.json").write_text(json.dumps({**default_stats, "dropped": 0, **stat}))
    return root


def slos_by_metric(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["metric"]: s for s in summary["slos"]}
