"""The run folder's ``usage.parquet`` from the embedded cluster's per-second usage rows.

In: ``usage.jsonl`` in the log folder (``resource_metrics.UsageRow`` per pod and second, times on the
monotonic clock) and the run's clock origin.  Out: ``usage.parquet`` beside the log folder (written
atomically), with ``t_s`` in seconds since the run's clock origin (``gpu_util_pct`` and ``gpu_memory_used_mib``
only when some pod had a GPU); nothing when there are no rows.  A torn
last line (the daemon killed mid-write) is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from harness.platform.local.resource_metrics import USAGE_FILE
from harness.runio import write_with


def write_usage_parquet(log_dir: str | Path, out: str | Path, t0_monotonic: float) -> Path | None:
    source = Path(log_dir) / USAGE_FILE
    if not source.exists():
        return None
    rows = []
    for line in source.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        row["t_s"] = round(row.pop("t_monotonic_s") - t0_monotonic, 3)
        rows.append(row)
    if not rows:
        return None
    table = pa.Table.from_pylist(rows)
    columns = zip(table.column_names, table.columns, strict=True)
    table = table.drop_columns([name for name, column in columns if pa.types.is_null(column.type)])  # no GPU: none
    return write_with(out, lambda path: pq.write_table(table, path))
