"""Ship a remote worker's finished files to the master, in bounded chunks over the Locust connection.

In (worker side, ``Shipper``): the worker's local output folder once its session has finished (Parquet parts
closed, ``load-w<i>.json`` written), its index, a ``send(data)`` that sends one ``kb_part`` message and a
``sleep`` to wait on (gevent's in the load process).  In (master side, ``Receiver``): each ``kb_part``
message's data.  Out: on the master, the same files under the run folder, at the same relative paths a local
worker writes them (``requests.parquet/w<i>-NNNNN.parquet``, ``load-w<i>.json``, ``logs/load-w<i>.log``), and
one ``kb_ack`` per chunk back to the worker.

Chunks are ``CHUNK_BYTES`` (256 KiB) of one file: ``{index, name, seq, offset, data, size, last}``.  The
worker keeps at most ``WINDOW`` chunks unacknowledged, so neither side holds more than about 1 MiB whatever
the run's size.  The master writes each chunk at its offset into a hidden ``.<file>.partial`` (pyarrow skips
names starting with ``.``: a half-shipped part never reaches analysis), and renames it when the last chunk
arrives with the size it announced.  Names are checked against the sender's index (``allowed``): a worker
cannot write outside the run folder or over another worker's files.  No Locust import here.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.errors import LoadError

CHUNK_BYTES = 256 * 1024
WINDOW = 4
ACK_TIMEOUT_S = 30.0


def allowed(name: str, index: int) -> bool:
    """Whether worker ``index`` may ship a file of this relative name."""
    pattern = rf"requests\.parquet/w{index}-\d{{5}}\.parquet|load-w{index}\.json|logs/load-w{index}\.log"
    return re.fullmatch(pattern, name) is not None


def shipped_files(out_dir: str, index: int) -> list[str]:
    """The worker's files to ship, as relative names, parts first and ``load-w<i>.json`` last."""
    parts_dir = os.path.join(out_dir, "requests.parquet")
    parts = sorted(f"requests.parquet/{n}" for n in os.listdir(parts_dir)) if os.path.isdir(parts_dir) else []
    names = [*parts, f"logs/load-w{index}.log", f"load-w{index}.json"]
    return [n for n in names if allowed(n, index) and os.path.isfile(os.path.join(out_dir, n))]


class Shipper:
    """The worker's side: send each file in chunks, at most ``WINDOW`` unacknowledged."""

    def __init__(
        self,
        out_dir: str,
        index: int,
        send: Callable[[dict[str, Any]], None],
        sleep: Callable[[float], Any] = time.sleep,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self.out_dir, self.index, self.send, self.sleep, self.alive = out_dir, index, send, sleep, alive
        self.sent = 0  # chunks sent
        self.acked = 0  # chunks acknowledged (the highest seq + 1)
        self.bytes = 0

    def on_ack(self, data: dict[str, Any]) -> None:
        self.acked = max(self.acked, int(data["seq"]) + 1)

    def _wait_window(self, limit: int) -> None:
        deadline = time.monotonic() + ACK_TIMEOUT_S
        while self.sent - self.acked > limit:
            if not self.alive() or time.monotonic() > deadline:
                raise LoadError(f"the master acknowledged {self.acked} of {self.sent} chunks of worker "
                                f"w{self.index}'s files in {ACK_TIMEOUT_S:g}s; not all its rows arrived")  # fmt: skip
            self.sleep(0.005)

    def ship(self) -> list[str]:
        """Send every file; returns their names once the master has acknowledged every chunk."""
        names = shipped_files(self.out_dir, self.index)
        for name in names:
            path = os.path.join(self.out_dir, name)
            size = os.path.getsize(path)
            with open(path, "rb") as fh:
                offset = 0
                while True:
                    data = fh.read(CHUNK_BYTES)
                    last = offset + len(data) >= size
                    self._wait_window(WINDOW - 1)
                    self.send({"index": self.index, "name": name, "seq": self.sent, "offset": offset, "data": data,
                               "size": size, "last": last})  # fmt: skip
                    self.sent += 1
                    offset += len(data)
                    self.bytes += len(data)
                    if last:
                        break
        self._wait_window(0)
        return names


@dataclass
class Receiver:
    """The master's side: write chunks into the run folder; what arrived, and what is missing."""

    out_dir: str
    files: dict[int, list[str]] = field(default_factory=dict)  # worker index -> files complete
    bytes: int = 0
    last_chunk_mono: float = 0.0
    problems: list[str] = field(default_factory=list)

    def _partial(self, name: str) -> str:
        folder, base = os.path.split(name)
        return os.path.join(self.out_dir, folder, f".{base}.partial")

    def receive(self, data: dict[str, Any]) -> dict[str, Any]:
        """Write one chunk; returns the ack to send back (``{"seq"}``)."""
        index, name = int(data["index"]), str(data["name"])
        self.last_chunk_mono = time.monotonic()
        if not allowed(name, index):
            self.problems.append(f"worker w{index} sent a file named {name!r}; ignored")
            return {"seq": data["seq"]}
        partial = self._partial(name)
        os.makedirs(os.path.dirname(partial), exist_ok=True)
        chunk: bytes = data["data"]
        with open(partial, "r+b" if int(data["offset"]) > 0 else "wb") as fh:
            fh.seek(int(data["offset"]))
            fh.write(chunk)
        self.bytes += len(chunk)
        if data["last"]:
            got = os.path.getsize(partial)
            if got != int(data["size"]):
                self.problems.append(f"{name}: {got} bytes arrived of {data['size']}; left out")
                os.remove(partial)
            else:
                os.replace(partial, os.path.join(self.out_dir, name))
                self.files.setdefault(index, []).append(name)
        return {"seq": data["seq"]}

    def finish(self) -> list[str]:
        """Remove what did not arrive whole; returns every problem met."""
        for folder, _, names in os.walk(self.out_dir):
            for name in names:
                if name.startswith(".") and name.endswith(".partial"):
                    os.remove(os.path.join(folder, name))
                    self.problems.append(f"{os.path.join(folder, name[1:-8])}: shipping cut short; left out")
        return self.problems
