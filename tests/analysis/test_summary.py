"""Analysis on a synthetic run folder: metrics, SLO verdicts, exit codes, report files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from harness.analysis import analyze
from harness.errors import RunFolderError
from harness.model import SCHEMA_VERSION
from harness.report import build_report

SCENARIO = """
name: synth
service: {replicas: 2, device_time_ms: 50}
load: {rate_rps: 10, duration: 10s}
slos:
  latency_ms: ["p(95) < {p95_limit}", "max <= 1000"]
  errors: ["rate < 0.05"]
  throughput_rps: ["value >= 9"]
  requests: ["count == 100"]
"""


def make_run(root: Path, p95_limit: float = 150, n_errors: int = 2, torn_part: bool = False) -> Path:
    """A run folder with 100 requests at 10 rps: latency 50..149 ms, ``n_errors`` failures."""
    root.mkdir(parents=True)
    (root / "scenario.yaml").write_text(SCENARIO.replace("{p95_limit}", str(p95_limit)))
    meta = {"schema_version": SCHEMA_VERSION, "run_id": "r1", "platform": "local", "started_at": "now"}
    (root / "run.json").write_text(json.dumps({**meta, "complete": True}))
    n = 100
    t_int = 1.0 + np.arange(n) * 0.1
    latency = 50.0 + np.arange(n)  # 50..149, shuffled below
    rng = np.random.default_rng(1)
    rng.shuffle(latency)
    ok = np.ones(n, dtype=bool)
    ok[:n_errors] = False
    frame = pd.DataFrame(
        {
            "t_intended_s": t_int,
            "t_sent_s": t_int + 0.001,
            "latency_ms": latency,
            "latency_raw_ms": latency - 1.0,
            "ttft_ms": np.nan,
            "status": np.where(ok, 200, 503).astype("int32"),
            "ok": ok,
            "error": [None if o else "HTTPError: 503" for o in ok],
            "bytes_out": 60,
            "tokens_out": pd.array([None] * n, dtype="Int64"),
            "replica": ["a", "b"] * 50,
            "phase": "steady",
            "worker": "w0",
        }
    )
    parts = root / "requests.parquet"
    parts.mkdir()
    frame.iloc[:60].to_parquet(parts / "w0-00000.parquet", index=False)
    frame.iloc[60:].to_parquet(parts / "w0-00001.parquet", index=False)
    if torn_part:
        (parts / "w0-00002.parquet").write_bytes(b"PAR1 torn by SIGKILL")
    timeline = pd.DataFrame({"t_s": [0.0, 1.0, 2.0, 11.0], "desired_replicas": 2, "ready_replicas": [0, 2, 2, 2],
                             "pods_total": 2, "pods_pending": 0})  # fmt: skip
    pq.write_table(pa.Table.from_pandas(timeline), root / "timeline.parquet")
    events = [{"t_s": 1.0, "kind": "load_start", "duration_s": 10.0}, {"t_s": 11.2, "kind": "load_end"}]
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (root / "load-w0.json").write_text(json.dumps({"requested_arrivals": 100, "scheduled": 100, "dropped": 0}))
    return root


def test_metrics_and_passing_slos(tmp_path):
    summary, code = analyze(make_run(tmp_path / "run"))
    m = summary["metrics"]
    assert code == 0 and summary["verdict"] == "pass"
    assert m["requests"] == 100
    assert m["error_rate"] == pytest.approx(0.02)
    assert m["throughput_rps"] == pytest.approx(10.0)
    assert m["achieved_rate_ratio"] == pytest.approx(1.0)
    assert m["latency_ms"]["p50"] == pytest.approx(np.percentile(np.arange(50, 150), 50))
    assert m["latency_ms"]["p95"] == pytest.approx(np.percentile(np.arange(50, 150), 95))
    assert m["latency_ms"]["max"] == 149.0
    assert m["replica_seconds"] == pytest.approx(2 * 1 + 2 * 9)
    assert summary["schema_version"] == SCHEMA_VERSION
    assert {s["expression"]: s["pass"] for s in summary["slos"] if not s["default"]} == {
        "p(95) < 150": True, "max <= 1000": True, "rate < 0.05": True, "value >= 9": True, "count == 100": True,
    }  # fmt: skip
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["verdict"] == "pass"


def test_failing_slo_exits_1(tmp_path):
    summary, code = analyze(make_run(tmp_path / "run", p95_limit=100))
    assert code == 1 and summary["verdict"] == "fail"
    failed = [s for s in summary["slos"] if not s["pass"]]
    assert [s["expression"] for s in failed] == ["p(95) < 100"]


def test_goodput_counts_ok_requests_within_latency_slo(tmp_path):
    summary, _ = analyze(make_run(tmp_path / "run", p95_limit=100, n_errors=0))
    # latencies 50..149: those <= 100 ms are 51 of 100 requests, over 10 s
    assert summary["metrics"]["goodput_rps"] == pytest.approx(5.1)


def test_torn_part_is_skipped_and_reported(tmp_path):
    summary, _ = analyze(make_run(tmp_path / "run", torn_part=True))
    assert summary["metrics"]["requests"] == 100
    assert any("w0-00002.parquet" in w for w in summary["warnings"])


def test_report_files(tmp_path):
    root = make_run(tmp_path / "run")
    analyze(root)
    written = build_report(root)
    assert (root / "report.md") in written and (root / "plots" / "latency.png").stat().st_size > 10_000
    text = (root / "report.md").read_text()
    assert "p(95) < 150" in text and "PASS" in text


def test_refuses_other_schema_version(tmp_path):
    root = make_run(tmp_path / "run")
    meta = json.loads((root / "run.json").read_text())
    (root / "run.json").write_text(json.dumps({**meta, "schema_version": 99}))
    with pytest.raises(RunFolderError, match="schema_version 99"):
        analyze(root)


def test_not_a_run_folder(tmp_path):
    with pytest.raises(RunFolderError, match="not a kibench run folder"):
        analyze(tmp_path)
