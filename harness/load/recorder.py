"""Per-request recording: one row per request, streamed to Parquet parts in bounded batches.

In: ``record(...)`` calls from Locust's request event (our users and any user's own locustfile).
Out: ``<out_dir>/requests.parquet/<worker>-<part>.parquet`` files (a Parquet dataset folder), a row
group written every ``flush()``, a new part every ``part_rotate_s`` so that a hard kill loses at most
the open part; plus live figures for the progress line (rows since the last ``take_count``, p95 of the
last 10 s of flushes).  Memory is bounded by the rows of one flush interval plus ten arrays of
latencies; nothing is kept per row between flushes.

The per-row cost is one list append of a tuple (``add``; ``record`` takes a dict); the rows become
columns at ``flush``.  The load process flushes once a second, and also whenever ``FLUSH_ROWS`` rows
are waiting (``flush_if_full``, polled ten times a second): converting and writing a batch holds the
gevent loop (about 1 µs a row), and a short hold delays fewer sends by less.
"""

from __future__ import annotations

import os
import time
from collections import deque
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("t_intended_s", pa.float64()),
        ("t_sent_s", pa.float64()),
        ("latency_ms", pa.float64()),
        ("latency_raw_ms", pa.float64()),
        ("ttft_ms", pa.float64()),
        ("itl_mean_ms", pa.float64()),
        ("itl_max_ms", pa.float64()),
        ("status", pa.int32()),
        ("ok", pa.bool_()),
        ("error", pa.string()),
        ("bytes_out", pa.int64()),
        ("tokens_out", pa.int64()),
        ("replica", pa.string()),
        ("phase", pa.string()),
        ("worker", pa.string()),
    ]
)
_NAMES = SCHEMA.names
WINDOW_S = 10.0
FLUSH_ROWS = 1000


class Recorder:
    """Buffers rows and writes them as Parquet row groups."""

    def __init__(self, out_dir: str, worker: str, part_rotate_s: float = 60.0) -> None:
        self.dir = os.path.join(out_dir, "requests.parquet")
        os.makedirs(self.dir, exist_ok=True)
        self.worker = worker
        self.part_rotate_s = part_rotate_s
        self._rows: list[tuple[Any, ...]] = []
        self._writer: pq.ParquetWriter | None = None
        self._part = 0
        self._part_opened = 0.0
        self.batches: deque[tuple[float, np.ndarray]] = deque()  # (flushed at, latency_ms of the batch)
        self.since_count = 0  # rows flushed since the last take_count
        self.total = self.ok = self.errors = 0  # rows flushed so far
        # pyarrow initialises lazily (~0.3 s on the first table); pay that before the load starts,
        # not in the middle of it where it would stall the gevent loop and show up as send lag.
        pq.write_table(SCHEMA.empty_table(), pa.BufferOutputStream())

    def add(self, values: tuple[Any, ...]) -> None:
        """Add one request row: the values of the SCHEMA columns, in order."""
        self._rows.append(values)

    def record(self, row: dict[str, Any]) -> None:
        """Add one request row (keys: the SCHEMA names; missing ones are null)."""
        self._rows.append(tuple(row.get(name) for name in _NAMES))

    def recent_p95_ms(self) -> float | None:
        """p95 of ``latency_ms`` over the flushes of the last 10 s (live display only)."""
        horizon = time.monotonic() - WINDOW_S
        while self.batches and self.batches[0][0] < horizon:
            self.batches.popleft()
        if not self.batches:
            return None
        values = np.concatenate([lat for _, lat in self.batches])
        return float(np.percentile(values, 95)) if values.size else None

    def take_count(self) -> int:
        """Rows flushed since the previous call."""
        n, self.since_count = self.since_count, 0
        return n

    def flush_if_full(self) -> int:
        """Flush when ``FLUSH_ROWS`` rows are waiting; returns the number written."""
        return self.flush() if len(self._rows) >= FLUSH_ROWS else 0

    def flush(self) -> int:
        """Write buffered rows as one row group; returns the number written."""
        rows, self._rows = self._rows, []
        n = len(rows)
        if n == 0:
            return 0
        columns = zip(*rows, strict=True)
        arrays = [pa.array(values, type=field.type) for field, values in zip(SCHEMA, columns, strict=True)]
        table = pa.Table.from_arrays(arrays, schema=SCHEMA)
        ok = int(pc.sum(table.column("ok")).as_py() or 0)
        self.total, self.ok, self.errors = self.total + n, self.ok + ok, self.errors + n - ok
        self.since_count += n
        now = time.monotonic()
        latency = table.column("latency_ms").to_numpy()
        self.batches.append((now, latency[~np.isnan(latency)]))
        if self._writer is not None and now - self._part_opened >= self.part_rotate_s:
            self._writer.close()
            self._writer = None
        if self._writer is None:
            path = os.path.join(self.dir, f"{self.worker}-{self._part:05d}.parquet")
            self._writer = pq.ParquetWriter(path, SCHEMA)
            self._part += 1
            self._part_opened = now
        self._writer.write_table(table)
        return n

    def close(self) -> None:
        """Flush and finish the open part (a readable file)."""
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
