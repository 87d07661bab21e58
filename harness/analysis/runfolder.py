"""Read a run folder's files into pandas.

In: ``RunFiles``.  Out: the requests frame (every readable Parquet part, sorted by intended send time;
a last part a hard kill left without its footer is skipped and reported), the timeline frame, the event
list, run.json and the load processes' stats.  Raises ``RunFolderError`` (exit 2, naming the file) when
the folder is not a run folder or is damaged: a torn run.json, timeline or load-<worker>.json, a missing
or torn part in the middle of a worker's parts (``harness.runio``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness.model import REQUEST_COLUMNS, RunFiles
from harness.runio import read_events, read_load_stats, read_meta, read_requests, read_timeline

#: Columns analysis reads (``bytes_out`` and ``worker`` are for users' own analyses).
ANALYSIS_COLUMNS = [c for c in REQUEST_COLUMNS if c not in ("bytes_out", "worker")]


@dataclass
class RunData:
    """Everything analysis needs from one run folder."""

    files: RunFiles
    meta: dict[str, Any]
    requests: pd.DataFrame
    timeline: pd.DataFrame
    events: list[dict[str, Any]]
    load_stats: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("kind") == kind]


def read_run(root: str | Path) -> RunData:
    """Load a run folder; missing optional files give empty frames and a warning."""
    files = RunFiles(Path(root))
    meta = read_meta(files)
    warnings: list[str] = []
    requests = _read_requests(files, warnings)
    table = read_timeline(files.timeline)
    timeline = pd.DataFrame() if table is None else table.to_pandas()
    if timeline.empty:
        warnings.append("timeline.parquet is missing or empty")
    events = read_events(files.events, warnings)
    stats = read_load_stats(files)
    return RunData(files, meta, requests, timeline, events, stats, warnings)


def _read_requests(files: RunFiles, warnings: list[str]) -> pd.DataFrame:
    table = read_requests(files, ANALYSIS_COLUMNS, warnings)
    if table is None:
        warnings.append("no request rows recorded")
        return pd.DataFrame(columns=ANALYSIS_COLUMNS)
    t = table.column("t_intended_s").to_numpy()
    if np.any(t[1:] < t[:-1]):
        table = table.take(np.argsort(t, kind="stable"))
    del t
    return table.to_pandas(self_destruct=True, split_blocks=True)  # frees each Arrow column as it converts
