"""A remote worker's files reach the master whole, in bounded chunks, at the paths a local worker writes them; a
worker cannot write elsewhere, and a file cut short never reaches analysis (shipping.py)."""

from __future__ import annotations

import json
import os
import time
from collections import deque

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from harness.errors import LoadError
from harness.load import shipping
from harness.load.recorder import SCHEMA


def worker_folder(root, index: int, rows: int) -> None:
    """What a worker leaves: two Parquet parts (one larger than a chunk), its stats and its log."""
    parts = root / "requests.parquet"
    parts.mkdir(parents=True)
    for part, n in enumerate((rows, 3)):
        values = {name: [None] * n for name in SCHEMA.names}
        values["t_intended_s"] = [float(i) for i in range(n)]
        values["worker"] = [f"w{index}"] * n
        values["error"] = [os.urandom(40).hex() for _ in range(n)]  # incompressible: the part is large
        pq.write_table(pa.table(values, schema=SCHEMA), parts / f"w{index}-{part:05d}.parquet")
    (root / f"load-w{index}.json").write_text(json.dumps({"recorded": rows + 3}))
    (root / "logs").mkdir()
    (root / "logs" / f"load-w{index}.log").write_text("a warning\n")


class Link:
    """The Locust connection, as the two sides see it: messages queue until the master's loop takes them."""

    def __init__(self, receiver: shipping.Receiver) -> None:
        self.receiver = receiver
        self.queue: deque[dict] = deque()
        self.shipper: shipping.Shipper | None = None
        self.most_in_flight = 0

    def send(self, data: dict) -> None:
        self.queue.append(dict(data))
        self.most_in_flight = max(self.most_in_flight, len(self.queue))

    def master_loop(self, _seconds: float) -> None:  # the worker's sleep: the master takes one message meanwhile
        if self.queue:
            assert self.shipper is not None
            self.shipper.on_ack(self.receiver.receive(self.queue.popleft()))


def test_every_file_arrives_whole_at_the_same_path_with_a_bounded_window(tmp_path):
    worker, master = tmp_path / "worker", tmp_path / "master"
    worker_folder(worker, 1, rows=20_000)
    receiver = shipping.Receiver(str(master))
    link = Link(receiver)
    shipper = link.shipper = shipping.Shipper(str(worker), 1, link.send, link.master_loop)
    names = shipper.ship()

    assert names == ["requests.parquet/w1-00000.parquet", "requests.parquet/w1-00001.parquet", "logs/load-w1.log",
                     "load-w1.json"]  # fmt: skip
    assert os.path.getsize(worker / names[0]) > 3 * shipping.CHUNK_BYTES  # several chunks
    for name in names:
        assert (master / name).read_bytes() == (worker / name).read_bytes(), name
    assert receiver.files == {1: names} and receiver.finish() == []
    assert link.most_in_flight == shipping.WINDOW  # never more than the window unacknowledged
    assert shipper.acked == shipper.sent and not link.queue
    assert ds.dataset(master / "requests.parquet").to_table().num_rows == 20_003


def test_a_worker_cannot_write_outside_its_own_files(tmp_path):
    receiver = shipping.Receiver(str(tmp_path))
    for name in ("../escape.json", "requests.parquet/w0-00000.parquet", "summary.json", "load-w2.json",
                 "/etc/passwd", "requests.parquet/../run.json"):  # fmt: skip
        receiver.receive({"index": 1, "name": name, "seq": 0, "offset": 0, "data": b"x", "size": 1, "last": True})
    assert len(receiver.problems) == 6 and receiver.files == {}
    assert sorted(os.listdir(tmp_path)) == []
    assert shipping.allowed("requests.parquet/w12-00003.parquet", 12)
    assert not shipping.allowed("requests.parquet/w12-00003.parquet", 1)


def test_a_file_cut_short_is_hidden_from_analysis_and_removed(tmp_path):
    worker, master = tmp_path / "worker", tmp_path / "master"
    worker_folder(worker, 0, rows=20_000)
    receiver = shipping.Receiver(str(master))
    sent: list[dict] = []
    shipper = shipping.Shipper(str(worker), 0, sent.append, lambda _s: shipper.on_ack({"seq": len(sent) - 1}))
    shipper.ship()
    first = [m for m in sent if m["name"].endswith("w0-00000.parquet")]
    for message in first[:-1]:  # the master stops before the part's last chunk
        receiver.receive(message)
    assert os.listdir(master / "requests.parquet") == [".w0-00000.parquet.partial"]
    assert ds.dataset(master / "requests.parquet").to_table().num_rows == 0  # pyarrow skips hidden files
    problems = receiver.finish()
    assert os.listdir(master / "requests.parquet") == [] and "shipping cut short" in problems[0]

    wrong = dict(first[-1], size=first[-1]["size"] + 1, offset=0)  # a size that does not add up
    receiver.receive(wrong)
    assert "left out" in receiver.problems[-1] and os.listdir(master / "requests.parquet") == []


def test_a_master_that_stops_acknowledging_fails_the_worker_without_hanging(tmp_path, monkeypatch):
    worker_folder(tmp_path, 0, rows=20_000)
    monkeypatch.setattr(shipping, "ACK_TIMEOUT_S", 0.2)
    alive = [True]
    shipper = shipping.Shipper(str(tmp_path), 0, lambda _d: None, lambda s: time.sleep(0.01), lambda: alive[0])
    with pytest.raises(LoadError, match="acknowledged 0 of 4 chunks"):
        shipper.ship()
    alive[0] = False
    gone = shipping.Shipper(str(tmp_path), 0, lambda _d: None, lambda s: time.sleep(0.01), lambda: alive[0])
    with pytest.raises(LoadError):
        gone.ship()
