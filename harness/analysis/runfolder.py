"""Read a run folder's files into pandas.

In: ``RunFiles``.  Out: the requests frame (every readable Parquet part; a part a hard kill left
without its footer is skipped and reported), the timeline frame, the event list, run.json and the
load processes' stats.  Raises ``RunFolderError`` when the folder is not a run folder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from harness.errors import RunFolderError
from harness.model import REQUEST_COLUMNS, SCHEMA_VERSION, RunFiles


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
    if not files.root.is_dir():
        raise RunFolderError(f"{files.root}: no such run folder; pass a folder under results/")
    if not files.run_meta.exists():
        raise RunFolderError(f"{files.run_meta}: missing; this is not a kibench run folder")
    meta = json.loads(files.run_meta.read_text(encoding="utf-8"))
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise RunFolderError(
            f"{files.run_meta}: schema_version {meta.get('schema_version')!r}, this kibench reads {SCHEMA_VERSION}"
        )
    warnings: list[str] = []
    requests = _read_requests(files, warnings)
    timeline = pd.read_parquet(files.timeline) if files.timeline.exists() else pd.DataFrame()
    if timeline.empty:
        warnings.append("timeline.parquet is missing or empty")
    events = _read_events(files.events, warnings)
    stats = [json.loads(p.read_text(encoding="utf-8")) for p in sorted(files.root.glob("load-*.json"))]
    return RunData(files, meta, requests, timeline, events, stats, warnings)


def _read_requests(files: RunFiles, warnings: list[str]) -> pd.DataFrame:
    frames = []
    for part in sorted(files.requests.glob("*.parquet")) if files.requests.is_dir() else []:
        try:
            frames.append(pq.read_table(part).to_pandas())
        except Exception as exc:  # noqa: BLE001 - a torn part from a hard kill: skip it, say so
            warnings.append(f"skipped unreadable {part.name} ({type(exc).__name__})")
    if not frames:
        warnings.append("no request rows recorded")
        return pd.DataFrame(columns=list(REQUEST_COLUMNS))
    return pd.concat(frames, ignore_index=True).sort_values("t_intended_s", ignore_index=True)


def _read_events(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    if not path.exists():
        warnings.append("events.jsonl is missing")
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            warnings.append("skipped a torn line in events.jsonl")
    return out
