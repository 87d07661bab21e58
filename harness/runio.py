"""Safe reading and atomic writing of run-folder files (a shared leaf: analysis, compare, report, run use it).

In: paths of a run folder (``harness.model.RunFiles``).  Out: parsed contents, or a ``RunFolderError``
(exit 2) that names the file and what is wrong with it, never a traceback; and writes that never leave a
torn file behind: ``write_atomic`` writes to a temporary name in the same folder, fsyncs and renames
(``os.replace`` is atomic on POSIX), so a reader sees the old file or the new one.

Request parts: ``requests.parquet/<worker>-<NNNNN>.parquet``.  A hard kill can leave the *last* part of
a worker without its footer: that part is skipped with a warning (what was recorded before it is kept).
A torn part that is not its worker's last, or a gap in a worker's part numbers, means the folder was
damaged after the run: ``RunFolderError``.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from harness.errors import RunFolderError
from harness.model import SCHEMA_VERSION, RunFiles

_PART = re.compile(r"^(?P<worker>.+)-(?P<n>\d{5})\.parquet$")
_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed over ``path``, else removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; the file gets the mode a plain open() would give
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path: str | Path, data: str | bytes) -> Path:
    """Write text (UTF-8) or bytes to ``path`` through a temporary file and a rename."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    return write_atomic(path, json.dumps(obj, indent=2, default=str) + "\n")


def write_with(path: str | Path, writer: Callable[[Path], Any]) -> Path:
    """``writer(tmp)`` writes the file (``DataFrame.to_parquet``, ``Figure.savefig``); then it is renamed."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def read_json(path: Path, what: str = "") -> Any:
    """Parse a JSON file; a missing or torn one is a RunFolderError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing{what}") from None
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise RunFolderError(
            f"{path}: not valid JSON ({exc.__class__.__name__}: {exc}); the file is torn or was edited"
        ) from None


def read_meta(files: RunFiles) -> dict[str, Any]:
    """run.json, checked: present, whole, a mapping, of this schema_version."""
    if not files.root.is_dir():
        raise RunFolderError(f"{files.root}: no such run folder; pass a folder under results/")
    meta = read_json(files.run_meta, "; this is not a kibench run folder")
    if not isinstance(meta, dict):
        raise RunFolderError(f"{files.run_meta}: not a JSON object; the file is damaged")
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise RunFolderError(
            f"{files.run_meta}: schema_version {meta.get('schema_version')!r}, this kibench reads {SCHEMA_VERSION}"
        )
    return meta


def read_events(path: Path, warnings: list[str]) -> list[dict[str, Any]]:
    """events.jsonl; a torn line (the last one after a hard kill) is skipped with a warning."""
    if not path.exists():
        warnings.append("events.jsonl is missing")
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            warnings.append("skipped a torn line in events.jsonl")
            continue
        if isinstance(event, dict) and "t_s" in event:
            out.append(event)
    return out


def read_timeline(path: Path) -> pa.Table | None:
    """timeline.parquet (None when absent); a torn file is a RunFolderError."""
    if not path.exists():
        return None
    try:
        return pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a torn file
        raise RunFolderError(f"{path}: cannot be read ({type(exc).__name__}: {exc}); the file is damaged") from None


def read_load_stats(files: RunFiles) -> list[dict[str, Any]]:
    """Every load-<worker>.json; a torn one is a RunFolderError."""
    out = []
    for path in sorted(files.root.glob("load-*.json")):
        stats = read_json(path)
        if not isinstance(stats, dict):
            raise RunFolderError(f"{path}: not a JSON object; the file is damaged")
        out.append(stats)
    return out


def request_parts(files: RunFiles) -> list[Path]:
    """The request parts in order; a gap in a worker's numbering is a RunFolderError."""
    if not files.requests.is_dir():
        return []
    by_worker: dict[str, list[tuple[int, Path]]] = {}
    other = []  # parts named otherwise (written by another tool): read, not checked for gaps
    for part in files.requests.glob("*.parquet"):
        match = _PART.match(part.name)
        if match:
            by_worker.setdefault(match["worker"], []).append((int(match["n"]), part))
        else:
            other.append(part)
    out = sorted(other)
    for worker, parts in sorted(by_worker.items()):
        parts.sort()
        numbers = [n for n, _ in parts]
        missing = sorted(set(range(numbers[-1] + 1)) - set(numbers))
        if missing:
            names = ", ".join(f"{worker}-{n:05d}.parquet" for n in missing[:3])
            raise RunFolderError(
                f"{files.requests}: part {names} is missing (parts 0..{numbers[-1]} of worker {worker} were "
                "written); the folder was damaged after the run"
            )
        out.extend(p for _, p in parts)
    return out


def read_requests(files: RunFiles, columns: list[str] | None, warnings: list[str]) -> pa.Table | None:
    """Every readable part (``columns`` only, those a part has); None when no part has rows."""
    parts = request_parts(files)
    last_of_worker = {}
    for part in parts:
        match = _PART.match(part.name)
        last_of_worker[match["worker"] if match else part.name] = part
    tables = []
    for part in parts:
        try:
            pf = pq.ParquetFile(part)
            names = set(pf.schema_arrow.names)
            tables.append(pf.read(columns=None if columns is None else [c for c in columns if c in names]))
        except Exception as exc:  # noqa: BLE001 - a part torn by a hard kill has no footer
            if part not in last_of_worker.values():
                raise RunFolderError(
                    f"{part}: cannot be read ({type(exc).__name__}) and later parts exist; the folder is damaged"
                ) from None
            warnings.append(f"skipped unreadable {part.name} ({type(exc).__name__})")
    tables = [t for t in tables if t.num_rows]
    if not tables:
        return None
    return pa.concat_tables(tables, promote_options="default")


__all__ = [
    "atomic_path",
    "read_events",
    "read_json",
    "read_load_stats",
    "read_meta",
    "read_requests",
    "read_timeline",
    "request_parts",
    "write_atomic",
    "write_json",
    "write_with",
]
