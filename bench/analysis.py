"""Analysis, report and compare speed on synthetic run folders, as ratios measured side by side in one run.

    .venv/bin/python bench/analysis.py [--rows 10000000] [--rate 2000] [--keep DIR]

Writes two synthetic run folders of ``--rows`` request rows each (the recorder's Parquet schema, parts of
one minute, a timeline, events, SLOs on latency and errors, a cost section), then times, each step in a
fresh process (so that its peak RSS is its own):

1. ``pandas.read_parquet`` of one folder's requests (every column): the unit of the ratios;
2. ``analyze`` + ``build_report`` of one folder (summary.json, per-second series, phases, cost, report.md,
   report.html with its figures, junit.xml): goal <= 10x (1), peak RSS <= 3 GB;
3. ``kibench compare`` of the two folders (compare.json/.md/.html, junit.xml): goal <= 5x the read of both.

Prints the seconds, the ratios and the peak RSS of each step.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = pa.schema([("t_intended_s", pa.float64()), ("t_sent_s", pa.float64()), ("latency_ms", pa.float64()),
                    ("latency_raw_ms", pa.float64()), ("ttft_ms", pa.float64()), ("itl_mean_ms", pa.float64()),
                    ("itl_max_ms", pa.float64()), ("status", pa.int32()), ("ok", pa.bool_()), ("error", pa.string()),
                    ("bytes_out", pa.int64()), ("tokens_out", pa.int64()), ("replica", pa.string()),
                    ("phase", pa.string()), ("worker", pa.string())])  # fmt: skip
SCENARIO = """name: bench
platform: {{pod: {{gpus: 1}}}}
service: {{replicas: 4, device_time_ms: 20}}
load: {{rate_rps: {rate:g}, duration: {duration:g}s}}
cost: {{gpu_hour_usd: 2.5}}
slos:
  latency_ms: ["p(95) < 400", "p(99) < 800"]
  errors: ["rate < 0.01"]
  latency_ms{{phase:steady}}: ["p(50) < 200"]
"""


def make_run(root: Path, rows: int, rate: float, seed: int, shift: float = 1.0) -> None:
    rng = np.random.default_rng(seed)
    duration = rows / rate
    root.mkdir(parents=True)
    (root / "scenario.yaml").write_text(SCENARIO.format(rate=rate, duration=duration))
    meta = {"schema_version": 1, "run_id": root.name, "platform": "local", "started_at": "now", "complete": True}
    (root / "run.json").write_text(json.dumps(meta))
    parts = root / "requests.parquet"
    parts.mkdir()
    per_part = int(rate * 60)
    level = np.repeat(np.exp(rng.normal(0, 0.05, int(duration // 10) + 2)), 10)
    for part, start in enumerate(range(0, rows, per_part)):
        n = min(per_part, rows - start)
        t = 1.0 + (start + np.arange(n) + 0.5) / rate
        latency = 60.0 * shift * level[(t // 1).astype(int)] * rng.lognormal(0.0, 0.45, n)
        ok = rng.random(n) > 0.002
        replica = pa.DictionaryArray.from_arrays(pa.array(rng.integers(0, 4, n).astype(np.int32)),
                                                 pa.array(["r-0", "r-1", "r-2", "r-3"])).cast(pa.string())  # fmt: skip
        table = pa.Table.from_arrays([
            pa.array(t), pa.array(t + 0.0005), pa.array(latency), pa.array(latency - 0.5),
            pa.nulls(n, pa.float64()), pa.nulls(n, pa.float64()), pa.nulls(n, pa.float64()),
            pa.array(np.where(ok, 200, 503).astype(np.int32)), pa.array(ok),
            pa.array(np.where(ok, None, "HTTPError: 503").tolist(), pa.string()),
            pa.array(np.full(n, 60, dtype=np.int64)), pa.nulls(n, pa.int64()), replica,
            pa.array(["steady"] * n, pa.string()), pa.array(["w0"] * n, pa.string()),
        ], schema=SCHEMA)  # fmt: skip
        pq.write_table(table, parts / f"w0-{part:05d}.parquet")
    t = np.arange(0.0, duration + 3.0)
    timeline = pa.table({"t_s": t, "desired_replicas": np.full(len(t), 4), "ready_replicas": np.full(len(t), 4),
                         "pods_total": np.full(len(t), 4), "pods_pending": np.zeros(len(t), dtype=int),
                         "nodes_total": np.full(len(t), 2), "nodes_ready": np.full(len(t), 2)})  # fmt: skip
    pq.write_table(timeline, root / "timeline.parquet")
    events = [{"t_s": 1.0, "kind": "load_start", "duration_s": duration},
              {"t_s": 1.0, "kind": "load_phase", "phase": "steady", "start_s": 1.0, "end_s": 1.0 + duration,
               "start_rps": rate, "end_rps": rate},
              {"t_s": 1.0 + duration + 0.5, "kind": "load_end"}]  # fmt: skip
    (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (root / "load-w0.json").write_text(json.dumps({"requested_arrivals": rows, "scheduled": rows, "dropped": 0}))


def timed(code: str) -> tuple[float, float]:
    """Run ``code`` in a fresh interpreter; (wall seconds of the code, peak RSS in GB of that process)."""
    script = (f"import time, resource\nt0 = time.perf_counter()\n{code}\n"
              "print(time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):
        raise SystemExit(proc.stdout + proc.stderr)
    seconds, peak_kb = proc.stdout.strip().splitlines()[-1].split()
    return float(seconds), int(peak_kb) / 1024**2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--keep", type=Path, default=None, help="write the run folders here and keep them")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="kibench-bench-"))
    a, b = work / "a", work / "b"
    try:
        if not a.exists():
            t = time.perf_counter()
            make_run(a, args.rows, args.rate, 1)
            make_run(b, args.rows, args.rate, 2, shift=1.02)
            print(f"wrote 2 x {args.rows:,} rows in {time.perf_counter() - t:.1f} s ({work})")
        read_s, read_gb = timed(f"import pandas as pd\npd.read_parquet({str(a / 'requests.parquet')!r})")
        read_b, _ = timed(f"import pandas as pd\npd.read_parquet({str(b / 'requests.parquet')!r})")
        report_s, report_gb = timed(
            "from harness.analysis import analyze\nfrom harness.report import build_report\n"
            f"analyze({str(a)!r})\nbuild_report({str(a)!r})"
        )
        compare_s, compare_gb = timed(
            "from harness.compare import Settings, compare_runs, write_compare_json\n"
            "from harness.report import write_compare_reports\n"
            f"r = compare_runs({str(a)!r}, {str(b)!r}, Settings())\n"
            f"write_compare_json({str(work / 'cmp')!r}, r)\nwrite_compare_reports({str(work / 'cmp')!r}, r)"
        )
        print(f"read_parquet (one run, every column): {read_s:6.2f} s  peak RSS {read_gb:.2f} GB")
        print(f"analyze + report:                     {report_s:6.2f} s  peak RSS {report_gb:.2f} GB"
              f"  ratio {report_s / read_s:.2f}x (goal <= 10x; RSS goal <= 3 GB)")  # fmt: skip
        print(f"compare of two runs:                  {compare_s:6.2f} s  peak RSS {compare_gb:.2f} GB"
              f"  ratio {compare_s / (read_s + read_b):.2f}x the read of both (goal <= 5x)")  # fmt: skip
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
