"""A user's own locustfile recorded through the request event; Locust master/worker mode with two workers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.load.conftest import Target, fast_app, load_log, run_load

EXAMPLE = Path(__file__).with_name("example_locustfile.py")


def test_bring_your_own_locustfile_is_recorded(serve, tmp_path):
    target = Target()
    url = serve(fast_app(target))
    load = {"model": "closed", "users": 2, "duration": "2s", "locustfile": str(EXAMPLE)}
    result = run_load(tmp_path / "out", url, load)
    assert result.code == 0, load_log(result)
    rows = result.rows
    # Every request the target answered is a row: nothing lost, nothing invented.
    assert len(rows) == target.count > 10
    assert set(target.paths) == {"/catalog", "/missing", "/"}
    assert int((rows["status"] == 404).sum()) == target.paths["/missing"]
    assert int((~rows["ok"]).sum()) == target.paths["/missing"]
    assert (rows["phase"] == "closed").all() and (rows["latency_ms"] == rows["latency_raw_ms"]).all()
    (stats,) = result.stats
    assert stats["recorded"] == len(rows) and stats["model"] == "closed"


@pytest.mark.slow
def test_two_workers_split_the_schedule_and_their_parts_merge(serve, tmp_path):
    target = Target()
    url = serve(fast_app(target))
    result = run_load(tmp_path, url, {"rate_rps": 100, "duration": "3s", "workers": 2})
    assert result.code == 0, load_log(result)
    rows = result.rows
    assert len(rows) == target.count == 300 and rows["ok"].all()
    parts = sorted(p.name for p in (tmp_path / "requests.parquet").iterdir())
    assert {p.split("-")[0] for p in parts} == {"w0", "w1"}
    assert rows["worker"].value_counts().to_dict() == {"w0": 150, "w1": 150}
    assert sorted(s["worker"] for s in result.stats) == ["w0", "w1"]
    assert sum(s["requested_arrivals"] for s in result.stats) == 300
    # The union of the two shares is the single-process schedule: one arrival every 10 ms.
    t = rows["t_intended_s"].sort_values().diff().dropna()
    assert t.min() == pytest.approx(0.01, abs=1e-6) and t.max() == pytest.approx(0.01, abs=1e-6)
    events = [line["event"] for line in result.lines]
    assert events[0] == "load_start" and events[-1] == "load_end" and "progress" in events
    assert result.lines[-1]["requests"] == 300 and result.lines[-1]["workers_done"] == 2


@pytest.mark.slow
def test_two_workers_closed_model(serve, tmp_path):
    target = Target()
    url = serve(fast_app(target))
    load = {"model": "closed", "users": 4, "duration": "2s", "wait_time": "50ms", "workers": 2}
    result = run_load(tmp_path, url, load)
    assert result.code == 0, load_log(result)
    assert len(result.rows) == target.count > 20
    assert set(result.rows["worker"]) == {"w0", "w1"}
    assert json.loads((tmp_path / "load-w1.json").read_text())["model"] == "closed"
