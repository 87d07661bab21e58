"""Workers in the cluster: how a worker finds the master, and the handshake that gives it its index, its config and
the run's clock on its own machine's clock (handshake.py).  The master's runner here is a small fake of Locust's
(the two methods the handshake calls); the end-to-end run is tests/kube/test_cluster_workers.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import pytest

from harness.errors import LoadError
from harness.load import handshake
from harness.load.config import LoadConfig
from harness.load.handshake import Handshake, master_address, worker_config
from harness.load.shapes import Segment


def master_cfg(tmp_path, workers: int = 2) -> LoadConfig:
    segments = (Segment(0.0, 3.0, 20.0, 20.0, "constant"),)
    return LoadConfig("http://127.0.0.1:9", str(tmp_path), t0_monotonic=100.0, segments=segments, workers=workers,
                      placement="cluster", master_host="10.0.0.7", master_port=5557)  # fmt: skip


def test_the_worker_reads_the_masters_run_time_on_its_own_clock_late_by_the_one_way_delay_only(tmp_path):
    cfg = master_cfg(tmp_path)
    other_host = 5000.0  # the worker's CLOCK_MONOTONIC counts from its own boot: a different origin
    one_way_s = 0.002
    sent_at_master_mono = 112.5
    data = {"index": 1, "config": cfg.for_process("worker", 1).to_json(),
            "master_run_time_s": sent_at_master_mono - cfg.t0_monotonic}  # fmt: skip
    worker = worker_config(data, "/tmp/w1", received_monotonic_s=sent_at_master_mono + one_way_s + other_host)

    assert (worker.worker, worker.worker_index, worker.out_dir) == ("w1", 1, "/tmp/w1")
    assert replace(worker, t0_monotonic=cfg.t0_monotonic, out_dir=cfg.out_dir) == cfg.for_process("worker", 1)
    # the same instant (master's monotonic 120.0) read as run time on both machines
    master_run_s = 120.0 - cfg.t0_monotonic
    worker_run_s = (120.0 + other_host) - worker.t0_monotonic
    assert worker_run_s == pytest.approx(master_run_s - one_way_s, abs=1e-9)  # late by the delay, never early
    # kb_start's load_start_s (run time) starts the worker's arrivals one delay after the master's instant
    load_start_s = 20.05
    worker_start_in_master_mono = worker.t0_monotonic + load_start_s - other_host
    assert worker_start_in_master_mono - (cfg.t0_monotonic + load_start_s) == pytest.approx(one_way_s, abs=1e-9)


@dataclass
class Client:
    id: str


@dataclass
class FakeMasterRunner:
    """Locust's MasterRunner as the handshake uses it: ``clients.all`` and ``send_message``."""

    ids: list[str]
    sent: list[tuple[str, dict, str | None]] = field(default_factory=list)

    @property
    def clients(self):
        return type("Nodes", (), {"all": [Client(i) for i in self.ids]})()

    def send_message(self, kind: str, data: dict, client_id: str | None = None) -> None:
        self.sent.append((kind, data, client_id))


def test_the_master_gives_each_connected_worker_an_index_and_reports_the_round_trip(tmp_path):
    cfg = master_cfg(tmp_path, workers=2)
    runner = FakeMasterRunner(["pod-b_1", "pod-a_2", "pod-c_3"])  # one pod more than load.workers
    shake = Handshake(cfg, runner)
    answered = {"n": 0}

    def wait(predicate, timeout_s):
        for _kind, data, _ in runner.sent[answered["n"]:]:  # each worker answers with the time it was sent
            # sent 200.4 ms ago by the master's clock, of which the worker held it 200 ms (building its session)
            shake.on_configured({"index": data["index"], "echo_s": data["master_run_time_s"] - 0.2004, "held_s": 0.2})
        answered["n"] = len(runner.sent)
        return predicate()

    shake.configure(wait)
    assert [(k, d["index"], c) for k, d, c in runner.sent] == [("kb_config", 0, "pod-a_2"), ("kb_config", 1, "pod-b_1")]
    for _, data, _ in runner.sent:
        worker = LoadConfig.from_json(data["config"])
        assert worker.worker == f"w{data['index']}" and worker.workers == 2 and worker.placement == "cluster"
        logged = json.loads((tmp_path / "logs" / f"loadconfig-w{data['index']}.json").read_text())
        assert logged == json.loads(data["config"])  # as the launcher writes a local worker's
    bound = shake.clock_fields()["clock_error_bound_ms"]
    assert shake.start_lead_s() == pytest.approx(0.05 + 2 * bound / 1000.0, abs=1e-5)  # kb_start in time
    assert 0.4 <= bound < 100.0  # 0.4 ms in transit (plus the time the test took), not the 200 ms held


def test_a_config_the_worker_missed_is_sent_again_and_one_never_taken_fails_the_load(tmp_path, monkeypatch):
    runner = FakeMasterRunner(["a", "b"])
    shake = Handshake(master_cfg(tmp_path, workers=2), runner)
    rounds = {"n": 0}

    def wait(predicate, timeout_s):  # worker b registers its handler only after the first round (Locust's race)
        rounds["n"] += 1
        for _kind, data, client_id in runner.sent[-2:]:
            if client_id == "a" or rounds["n"] > 1:
                shake.on_configured({"index": data["index"], "echo_s": data["master_run_time_s"]})
        return predicate()

    shake.configure(wait)
    assert [c for _, _, c in runner.sent] == ["a", "b", "b"]  # only the one that did not answer, again

    monkeypatch.setattr(handshake, "CONFIG_TIMEOUT_S", 0.05)
    silent = Handshake(master_cfg(tmp_path, workers=2), FakeMasterRunner(["a", "b"]))
    with pytest.raises(LoadError, match="0 of 2 load workers took their config"):
        silent.configure(lambda predicate, timeout_s: predicate())
    assert silent.clock_fields() == {}


def test_a_worker_finds_the_master_through_the_service_links_else_its_dns_name():
    links = {"KIBENCH_LOAD_MASTER_SERVICE_HOST": "10.96.0.12", "KIBENCH_LOAD_MASTER_SERVICE_PORT": "5557"}
    assert master_address(env=links) == ("10.96.0.12", 5557)
    assert master_address(env={}) == ("kibench-load-master", 5557)
    assert master_address("other-svc", 6000, env={"OTHER_SVC_SERVICE_HOST": "127.0.0.1"}) == ("127.0.0.1", 6000)
