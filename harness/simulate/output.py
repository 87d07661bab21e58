"""The simulated run's files, in the run folder's format (docs/architecture.md#the-run-folder).

In: simulated request rows as numpy columns, timeline rows, events.  Out: ``requests.parquet/w0-NNNNN.parquet``
parts (the load's schema, ``harness.load.recorder.SCHEMA``; a new part every ``rows_per_part`` rows, so
memory stays bounded at any length), ``timeline.parquet``, ``events.jsonl`` (sorted by time) and
``load-w0.json``, each written atomically where the measured run's writer does so.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from harness.load.recorder import SCHEMA
from harness.model import Event, RunFiles
from harness.runio import write_json, write_with

WORKER = "w0"
_ERRORS = {
    200: None,
    429: "HTTPError: 429 Too Many Requests (queue full)",
    503: "HTTPError: 503 Service Unavailable (no Ready replica)",
    504: "HTTPError: 504 Gateway Timeout (request_timeout)",
    0: "Timeout: the client's timeout passed",
    -1: "ConnectionResetError: the replica went away",
}


@dataclass(frozen=True)
class TokenColumns:
    """A streamed completion's figures per row: first token (run time, s), inter-token gaps (ms), tokens."""

    first_s: np.ndarray
    itl_mean_ms: np.ndarray
    itl_max_ms: np.ndarray
    tokens_out: np.ndarray


class RowWriter:
    """Streams request rows to Parquet parts; holds at most one part's rows."""

    def __init__(self, files: RunFiles, rows_per_part: int = 2_000_000) -> None:
        self.dir = files.requests
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rows_per_part = rows_per_part
        self.part = 0
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._in_part = 0

    def write(
        self,
        t_intended: np.ndarray,
        done: np.ndarray,
        code: np.ndarray,
        overhead_s: float | np.ndarray,
        replica: pa.Array,
        phase: pa.Array,
        tokens: TokenColumns | None = None,
    ) -> None:
        """One batch of finished requests; ``code`` is the HTTP status, 0 a client timeout, -1 a reset;
        ``tokens``: a completions workload's first-token times, inter-token gaps and tokens out."""
        n = len(t_intended)
        if n == 0:
            return
        ok = code == 200
        latency = (done - t_intended) * 1000.0 + np.where(code == 0, 0.0, overhead_s * 1000.0)
        error = pa.array(np.array([_ERRORS.get(int(c)) for c in range(-1, 600)], dtype=object)).take(
            pa.array(code.astype(np.int32) + 1)
        )
        nan = pa.nulls(n, pa.float64())
        ttft, itl_mean, itl_max, tokens_out = nan, nan, nan, pa.nulls(n, pa.int64())
        if tokens is not None:
            first_ms = (tokens.first_s - t_intended) * 1000.0 + np.asarray(overhead_s) * 1000.0
            ttft = pa.array(np.where(ok, first_ms, np.nan), from_pandas=True)
            itl_mean = pa.array(np.where(ok, tokens.itl_mean_ms, np.nan), from_pandas=True)
            itl_max = pa.array(np.where(ok, tokens.itl_max_ms, np.nan), from_pandas=True)
            tokens_out = pa.array([int(v) if k else None for v, k in zip(tokens.tokens_out, ok, strict=True)],
                                  pa.int64())  # fmt: skip
        table = pa.Table.from_arrays(
            [
                pa.array(t_intended),
                pa.array(t_intended),
                pa.array(latency),
                pa.array(latency),
                ttft,
                itl_mean,
                itl_max,
                pa.array(np.maximum(code, 0).astype(np.int32)),
                pa.array(ok),
                error,
                pa.array(np.where(ok, 153, 0).astype(np.int64)),
                tokens_out,
                replica,
                phase,
                pa.array(np.full(n, WORKER, dtype=object), pa.string()),
            ],
            schema=SCHEMA,
        )
        if self._writer is None:
            path = self.dir / f"{WORKER}-{self.part:05d}.parquet"
            self._writer = pq.ParquetWriter(str(path), SCHEMA)
        self._writer.write_table(table, row_group_size=256_000)
        self.rows += n
        self._in_part += n
        if self._in_part >= self.rows_per_part:
            self._rotate()

    def _rotate(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self.part += 1
            self._in_part = 0

    def close(self) -> None:
        self._rotate()


def write_timeline(files: RunFiles, rows: list[dict[str, Any]]) -> None:
    from harness.observe.recorder import TIMELINE_COLUMNS

    extra = sorted({k for row in rows for k in row} - set(TIMELINE_COLUMNS))
    frame = pd.DataFrame(rows, columns=[*TIMELINE_COLUMNS, *extra])
    write_with(files.timeline, lambda tmp: frame.to_parquet(tmp, index=False))


def write_events(files: RunFiles, events: list[Event]) -> None:
    ordered = sorted(events, key=lambda e: e.t_s)
    text = "".join(json.dumps(e.to_json(), default=str) + "\n" for e in ordered)
    write_with(files.events, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_load_stats(files: RunFiles, stats: dict[str, Any]) -> None:
    write_json(files.root / f"load-{WORKER}.json", {"worker": WORKER, **stats})


def ensure_dir(path: Path) -> None:
    os.makedirs(path, exist_ok=True)
