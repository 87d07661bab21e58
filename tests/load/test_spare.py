"""A spare load process: started ahead of its run, it runs the load it is handed; unused, it goes."""

from __future__ import annotations

import json
from pathlib import Path

from harness.load.launcher import Spare
from harness.procs import poll_until
from tests.load.conftest import Target, fast_app, run_load


def test_a_spare_runs_the_load_it_is_handed(tmp_path: Path, serve) -> None:
    target = Target()
    url = serve(fast_app(target))
    spare = Spare(str(tmp_path / "logs" / "load.log"))
    pid = spare.proc.pid
    result = run_load(tmp_path, url, {"rate_rps": 50, "duration": "1s"}, spare=spare)
    assert result.code == 0 and len(result.rows) == 50 and target.count == 50
    records = [json.loads(line) for line in (tmp_path / "logs" / "processes.jsonl").read_text().splitlines()]
    assert [(r["pid"], r["role"]) for r in records] == [(pid, "load-local")]  # the spare ran it, no other process
    assert spare.proc is None  # taken


def test_an_unused_spare_stops_and_a_dead_one_is_not_taken(tmp_path: Path) -> None:
    spare = Spare(str(tmp_path / "load.log"))
    proc = spare.proc
    spare.stop()
    assert proc.poll() is not None and spare.proc is None
    dead = Spare(str(tmp_path / "load.log"))
    dead.proc.stdin.close()  # EOF instead of a config path: it exits
    assert poll_until(lambda: dead.proc.poll() is not None, 30, 0.05)
    assert dead.proc.returncode == 0
    assert dead.take(str(tmp_path / "loadconfig-local.json")) is None
