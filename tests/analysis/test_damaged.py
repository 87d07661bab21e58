"""A damaged run folder gives exit 2 naming what is wrong, never a traceback; rewrites are atomic."""

from __future__ import annotations

import json
import subprocess

import pytest

from harness.runio import write_atomic, write_with
from tests.analysis.test_summary import make_run


def damage(root, how: str) -> str:
    """Damage the folder; return the file name the message must name."""
    if how == "torn run.json":
        (root / "run.json").write_text('{"schema_version": 1, "run_id": "r1", "plat')
        return "run.json"
    if how == "torn timeline":
        data = (root / "timeline.parquet").read_bytes()
        (root / "timeline.parquet").write_bytes(data[: len(data) // 2])
        return "timeline.parquet"
    if how == "missing part":
        (root / "requests.parquet" / "w0-00000.parquet").unlink()
        return "w0-00000.parquet is missing"
    if how == "torn middle part":
        (root / "requests.parquet" / "w0-00000.parquet").write_bytes(b"PAR1 torn")
        return "w0-00000.parquet"
    if how == "torn load stats":
        (root / "load-w0.json").write_text('{"requested_arrivals": 1')
        return "load-w0.json"
    raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["torn run.json", "torn timeline", "missing part", "torn middle part", "torn load stats"]
)
def test_damaged_folder_exits_2_naming_the_problem(tmp_path, kibench, how):
    root = make_run(tmp_path / "run")
    expected = damage(root, how)
    proc = subprocess.run([*kibench, "report", str(root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert expected in proc.stderr.replace("\n", "") and "Traceback" not in proc.stderr


def test_torn_summary_is_named_by_compare_and_report_builder(tmp_path):
    from harness.errors import RunFolderError
    from harness.report import build_report

    root = make_run(tmp_path / "run")
    (root / "summary.json").write_text('{"slos": [')
    with pytest.raises(RunFolderError, match="summary.json: not valid JSON"):
        build_report(root)


def test_rewrites_leave_the_old_file_when_interrupted_and_no_temporary_behind(tmp_path):
    target = tmp_path / "summary.json"
    write_atomic(target, json.dumps({"v": 1}))

    def half_then_fail(tmp):
        tmp.write_text('{"v": 2, "half')
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_with(target, half_then_fail)
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # a normal file mode, not mkstemp's


def test_report_writes_every_file_atomically(tmp_path, kibench):
    root = make_run(tmp_path / "run")
    proc = subprocess.run([*kibench, "report", str(root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    names = {p.name for p in root.iterdir()}
    assert {"summary.json", "report.md", "report.html", "junit.xml", "per_second.parquet"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
