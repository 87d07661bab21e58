"""The emulated GPU a replica was given, and how its work runs when the GPU is shared.

In: ``KIBENCH_GPU`` (JSON, set by the embedded cluster's kubelet as the device plugin would assign a device:
uuid, mode ``whole`` | ``time-slicing`` | ``mig``, compute fraction, framebuffer, and for time-slicing the path
of the physical GPU's share file), and a batch's solo device time (the profile's batch time on a whole GPU).
Out: ``Gpu.run(solo_s)``, awaited for as long as the batch takes on this device:

- whole GPU: ``solo_s``;
- MIG slice: ``solo_s / compute_fraction`` (g/7 of the GPU), whatever the neighbouring slices do;
- time-slicing: processor sharing, coordinated between the replica processes through the share file, a
  small memory-mapped table with one slot per process (its pid and a heartbeat while it has work on the
  GPU).  The work advances in quanta of at most ``QUANTUM_S``; in each, with k replicas busy, it advances
  at ``1/k`` of the GPU's speed, less the context-switch overhead when k > 1:
  ``rate = (1 - overhead) / k``, the overhead being the model's (its profile's ``time_slice_overhead``)
  or, when the profile has none, the node's (``nodes.gpu.time_slice_overhead``).  Two saturating replicas
  thus each get half the GPU's throughput (less the overhead), one alone gets all of it.  A slot whose
  heartbeat is older than ``STALE_S`` (a killed process) counts as idle.

The clock is ``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process on the machine).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import json
import mmap
import os
import struct
import time
from dataclasses import dataclass

SLOTS = 64
_SLOT = struct.Struct("<qd")  # pid, heartbeat (monotonic seconds; 0: idle)
QUANTUM_S = 0.004
STALE_S = 1.0
ENV = "KIBENCH_GPU"


@dataclass(frozen=True)
class GpuInfo:
    """What ``KIBENCH_GPU`` says (see ``harness.platform.local.gpus.GpuAssignment``)."""

    uuid: str = "GPU-emulated-0"
    mode: str = "whole"
    model: str = "emulated"
    compute_fraction: float = 1.0
    memory_mib: int = 81920
    share_file: str = ""
    time_slice_overhead: float = 0.0
    mig_profile: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> GpuInfo:
        text = (os.environ if environ is None else environ).get(ENV, "")
        if not text:
            return cls()
        data = json.loads(text)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


class ShareFile:
    """One physical GPU's table of busy replicas, shared by the processes time-slicing it."""

    def __init__(self, path: str, pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_size < SLOTS * _SLOT.size:
                os.ftruncate(fd, SLOTS * _SLOT.size)
            self.map = mmap.mmap(fd, SLOTS * _SLOT.size)
            self.slot = self._claim()
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _claim(self) -> int:
        now = time.monotonic()
        free = None
        for i in range(SLOTS):
            pid, beat = _SLOT.unpack_from(self.map, i * _SLOT.size)
            if pid == self.pid:
                return i
            if free is None and (pid == 0 or not _alive(pid) or (beat and now - beat > STALE_S * 60)):
                free = i
        if free is None:
            raise RuntimeError(f"more than {SLOTS} processes share one emulated GPU")
        _SLOT.pack_into(self.map, free * _SLOT.size, self.pid, 0.0)
        return free

    def set_busy(self, busy: bool) -> None:
        _SLOT.pack_into(self.map, self.slot * _SLOT.size, self.pid, time.monotonic() if busy else 0.0)

    def busy_count(self) -> int:
        now, count = time.monotonic(), 0
        for i in range(SLOTS):
            pid, beat = _SLOT.unpack_from(self.map, i * _SLOT.size)
            if pid and beat and now - beat < STALE_S:
                count += 1
        return count

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            _SLOT.pack_into(self.map, self.slot * _SLOT.size, 0, 0.0)
            self.map.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def shared_rate(busy: int, overhead: float) -> float:
    """Share of the GPU one busy replica gets when ``busy`` replicas (itself included) have work on it."""
    return 1.0 if busy <= 1 else (1.0 - overhead) / busy


class Gpu:
    """The replica's emulated device: runs a batch of ``solo_s`` (its time on a whole, unshared GPU)."""

    def __init__(self, info: GpuInfo | None = None, overhead: float | None = None) -> None:
        """``overhead``: the model's own context-switch cost on a time-sliced GPU (its profile's
        ``time_slice_overhead``), else the node's, from ``KIBENCH_GPU``."""
        self.info = info or GpuInfo.from_env()
        if overhead is not None:
            self.info = dataclasses.replace(self.info, time_slice_overhead=overhead)
        sliced = self.info.mode == "time-slicing" and bool(self.info.share_file)
        self.share = ShareFile(self.info.share_file) if sliced else None
        self._active = 0  # batches of this replica on the device now (the batcher runs one at a time)

    @property
    def shared(self) -> bool:
        return self.share is not None

    def device_s(self, solo_s: float) -> float:
        """The batch's time when it does not depend on neighbours (whole GPU, MIG slice)."""
        return solo_s / max(self.info.compute_fraction, 1e-9)

    async def run(self, solo_s: float) -> float:
        """Run the batch; returns when it ended (monotonic seconds)."""
        if self.share is None:
            end = time.monotonic() + self.device_s(solo_s)
            await asyncio.sleep(max(end - time.monotonic(), 0.0))
            return end
        share, overhead = self.share, self.info.time_slice_overhead
        self._active += 1
        share.set_busy(True)
        try:
            remaining = solo_s
            last = time.monotonic()
            while remaining > 1e-9:
                rate = shared_rate(share.busy_count(), overhead)
                await asyncio.sleep(min(remaining / rate, QUANTUM_S))
                now = time.monotonic()
                remaining -= (now - last) * rate
                last = now
                share.set_busy(True)  # heartbeat
            return last
        finally:
            self._active -= 1
            if self._active == 0:
                share.set_busy(False)

    def close(self) -> None:
        if self.share is not None:
            self.share.close()
