"""The recorder: bounded memory over a long synthetic run, readable parts, rotation, interrupted runs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest

from harness.load.recorder import SCHEMA, Recorder
from harness.model import REQUEST_COLUMNS
from harness.procs import poll_until
from tests.load.conftest import Target, fast_app

# One simulated second = 4000 rows, as the load process writes them: record each, flush once a second,
# prune the 10-second progress window.  RSS is read after a warm-up and again at the end.
SYNTHETIC = r"""
import json, sys, psutil
from harness.load.recorder import Recorder
out, seconds, per_s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rec = Recorder(out, "w0", part_rotate_s=3600)
proc = psutil.Process()
rss = {}
for second in range(seconds):
    for i in range(per_s):
        t = second + i / per_s
        rec.record({"t_intended_s": t, "t_sent_s": t + 1e-4, "latency_ms": 5.0 + i % 7, "latency_raw_ms": 4.9,
                    "status": 200, "ok": i % 50 != 0, "error": None if i % 50 else "HTTPError: 503",
                    "bytes_out": 50, "replica": f"replica-{i % 4}", "phase": "steady", "worker": "w0"})
    rec.flush()
    rec.recent_p95_ms()
    if second == seconds // 5:
        rss["first"] = proc.memory_info().rss
rss["last"] = proc.memory_info().rss
rec.close()
print(json.dumps({**rss, "rows": rec.total}))
"""


@pytest.mark.slow
@pytest.mark.exclusive  # its memory figure
def test_memory_stays_flat_over_a_long_synthetic_run(tmp_path):
    seconds, per_s = 300, 4000  # 1.2 M rows, five simulated minutes at 4000 rps
    proc = subprocess.run(
        [sys.executable, "-c", SYNTHETIC, str(tmp_path), str(seconds), str(per_s)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["rows"] == seconds * per_s
    growth = result["last"] / result["first"]
    # Memory after 60 simulated seconds vs after 300: bounded buffers give a ratio near 1; keeping
    # the rows (~100 B each) would add > 90 MB, a ratio well above 1.5.
    assert growth < 1.25, result
    assert result["last"] - result["first"] < 40 * 2**20, result
    rows = pq.ParquetFile(tmp_path / "requests.parquet" / "w0-00000.parquet")
    assert rows.metadata.num_rows == seconds * per_s and rows.metadata.num_row_groups == seconds


def test_parts_rotate_and_schema_matches_the_run_folder_contract(tmp_path):
    rec = Recorder(str(tmp_path), "w3", part_rotate_s=0.0)
    for i in range(3):
        rec.record(
            {
                "t_intended_s": float(i),
                "t_sent_s": float(i),
                "latency_ms": 1.0,
                "latency_raw_ms": 1.0,
                "ok": True,
                "ttft_ms": 0.5,
                "itl_mean_ms": 0.1,
                "itl_max_ms": 0.2,
                "tokens_out": 3,
            }
        )
        rec.flush()
    rec.close()
    parts = sorted((tmp_path / "requests.parquet").glob("w3-*.parquet"))
    assert len(parts) == 3
    frame = pd.concat([pd.read_parquet(p) for p in parts])
    assert tuple(SCHEMA.names) == REQUEST_COLUMNS
    assert list(frame.columns) == list(REQUEST_COLUMNS) and frame["tokens_out"].tolist() == [3, 3, 3]


@pytest.mark.slow
def test_sigterm_mid_run_leaves_readable_parts_from_every_worker(serve, tmp_path):
    from harness.load.config import config_from_spec
    from harness.load.launcher import LoadProcess
    from harness.scenario import validate

    target = Target()
    url = serve(fast_app(target))
    spec = validate({"name": "t", "load": {"rate_rps": 50, "duration": "60s", "workers": 2}}, "t").load
    lines: list[dict] = []
    proc = LoadProcess(
        config_from_spec(spec, url, str(tmp_path), time.monotonic()), str(tmp_path / "load.log"), lines.append
    )
    proc.start()
    assert proc.started.wait(30), (tmp_path / "load.log").read_text()
    assert poll_until(lambda: target.count >= 60, 30.0), "the load never reached the target"  # both workers sent
    started = time.monotonic()
    proc.stop()
    assert time.monotonic() - started < 12  # every process got SIGTERM at once and closed its part
    assert all(p.poll() is not None for p in proc.processes)
    assert [p.returncode for p in proc.processes] != [-signal.SIGKILL] * 3
    parts = sorted((tmp_path / "requests.parquet").glob("*.parquet"))
    assert {p.name.split("-")[0] for p in parts} == {"w0", "w1"}
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    assert 50 <= rows < 1000
    assert sorted(p.name for p in tmp_path.glob("load-w*.json")) == ["load-w0.json", "load-w1.json"]
