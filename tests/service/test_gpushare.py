"""The emulated GPU when shared, with known answers, between real processes coordinating through the share file:

- time-slicing is processor sharing: two replicas that each alone finish batches at rate r, saturating one GPU
  together, each get r/2 (within 10 %; no context-switch overhead in this test, so the answer is exact);
- a MIG slice runs at its fraction (g/7) and a busy neighbouring slice changes its batch time by < 5 %.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from harness.service import gpushare
from harness.service.gpushare import GpuInfo, ShareFile, shared_rate

WORKER = """
import asyncio, importlib.util, json, sys, time
spec = importlib.util.spec_from_file_location("gpushare", sys.argv[4])  # the module alone: a fast start
gpushare = importlib.util.module_from_spec(spec)
sys.modules["gpushare"] = gpushare
spec.loader.exec_module(gpushare)
Gpu, GpuInfo = gpushare.Gpu, gpushare.GpuInfo
info, solo_s, duration = GpuInfo(**json.loads(sys.argv[1])), float(sys.argv[2]), float(sys.argv[3])
async def main():
    gpu = Gpu(info)
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    while time.monotonic() < start:
        await asyncio.sleep(0.001)
    done, lat = 0, []
    while time.monotonic() < start + duration:
        t = time.monotonic(); await gpu.run(solo_s); lat.append(time.monotonic() - t); done += 1
    gpu.close()
    print(json.dumps({"batches": done, "mean_s": sum(lat) / len(lat)}))
asyncio.run(main())
"""


def _run(infos: list[GpuInfo], solo_s: float, duration_s: float) -> list[dict[str, float]]:
    """Each info in its own process, all starting together once every one is ready, running batches back to back."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(info.__dict__), str(solo_s), str(duration_s), gpushare.__file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for info in infos
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    start = time.monotonic() + 0.05
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(f"{start}\n")
        p.stdin.flush()
    return [json.loads(p.communicate(timeout=30)[0]) for p in procs]


def test_rate_with_context_switch_overhead():
    assert shared_rate(1, 0.1) == 1.0 and shared_rate(2, 0.0) == 0.5 and shared_rate(4, 0.2) == pytest.approx(0.2)


def test_share_file_counts_busy_processes(tmp_path):
    path = str(tmp_path / "gpu0.share")
    a, b = ShareFile(path, pid=1), ShareFile(path, pid=2)
    assert a.slot != b.slot and a.busy_count() == 0
    a.set_busy(True)
    b.set_busy(True)
    assert b.busy_count() == 2
    a.set_busy(False)
    assert b.busy_count() == 1


@pytest.mark.slow
def test_two_replicas_time_slicing_one_gpu_each_get_half(tmp_path):
    shared = GpuInfo(uuid="GPU-t-0", mode="time-slicing", share_file=str(tmp_path / "gpu0.share"))
    lone = GpuInfo(uuid="GPU-t-1", mode="time-slicing", share_file=str(tmp_path / "gpu1.share"))
    solo_s, duration_s = 0.02, 1.2
    alone, *together = _run([lone, shared, shared], solo_s, duration_s)  # side by side: one GPU alone, one shared
    r = alone["batches"] / duration_s
    for replica in together:
        assert replica["batches"] / duration_s == pytest.approx(r / 2, rel=0.10), (alone, together)


@pytest.mark.slow
def test_mig_slice_is_isolated_from_a_busy_neighbour():
    slice_a = GpuInfo(uuid="MIG-t-0-0", mode="mig", compute_fraction=3 / 7, mig_profile="3g.40gb")
    slice_b = GpuInfo(uuid="MIG-t-0-1", mode="mig", compute_fraction=3 / 7, mig_profile="3g.40gb")
    lone = GpuInfo(uuid="MIG-t-1-0", mode="mig", compute_fraction=3 / 7, mig_profile="3g.40gb")
    solo_s, duration_s = 0.02, 1.0
    alone, with_neighbour, _ = _run([lone, slice_a, slice_b], solo_s, duration_s)  # GPU 1 alone, GPU 0 both busy
    assert alone["mean_s"] == pytest.approx(solo_s * 7 / 3, rel=0.10)  # its fixed fraction (+ timer overshoot)
    assert with_neighbour["mean_s"] == pytest.approx(alone["mean_s"], rel=0.05)


def test_a_profile_s_context_switch_cost_takes_precedence_over_the_node_s(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.service.backends import ClassicBackend
    from harness.service.config import config_from_section
    from harness.service.metrics import ServiceMetrics

    node = GpuInfo(mode="time-slicing", time_slice_overhead=0.05)
    assert gpushare.Gpu(node).info.time_slice_overhead == 0.05  # no profile setting: the node's
    assert gpushare.Gpu(node, overhead=0.2).info.time_slice_overhead == 0.2
    monkeypatch.setenv(gpushare.ENV, json.dumps({"mode": "time-slicing", "time_slice_overhead": 0.05}))
    for profile, expected in (({"kind": "classic", "base_ms": 20, "time_slice_overhead": 0.12}, 0.12),
                              ({"kind": "classic", "base_ms": 20}, 0.05)):  # fmt: skip
        model = config_from_section({"profile": profile}, "r").model()
        backend = ClassicBackend(model, 8, ServiceMetrics(model.name, model.kind, "emulated", 1.0))
        assert backend.gpu is not None and backend.gpu.info.time_slice_overhead == expected


def test_an_llm_replica_on_a_mig_slice_steps_at_its_fraction_and_on_a_shared_gpu_as_the_share_lets_it(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LLM engine's steps run on the emulated GPU as the classic batches do: a 3g slice takes 7/3 of a whole
    GPU's step time (exact: the engine's virtual timeline), and a time-sliced GPU's steps go through the share
    file (the replica's slot is busy while it steps)."""
    from harness.service.backends import LLMBackend
    from harness.service.metrics import ServiceMetrics
    from harness.service.profiles import LLMProfile
    from tests.service.conftest import LLM_TEST

    profile = LLMProfile(**{k: v for k, v in LLM_TEST.items() if k != "kind"})

    async def token_times(env: dict[str, object]) -> tuple[list[float], LLMBackend]:
        monkeypatch.setenv(gpushare.ENV, json.dumps(env))
        backend = LLMBackend(profile, 8, ServiceMetrics(profile.name, profile.kind, "emulated", 1.0))
        backend.start()
        try:
            seq = backend.submit(10, 4)
            times = [seq.t_s]
            while (t := await seq.next()) is not None:
                times.append(t)
            return times, backend
        finally:
            await backend.stop()

    import asyncio

    whole, _ = asyncio.run(token_times({"mode": "whole"}))
    sliced, backend = asyncio.run(token_times({"mode": "mig", "compute_fraction": 3 / 7, "mig_profile": "3g.40gb"}))
    assert backend.gpu.info.mig_profile == "3g.40gb"
    gaps = lambda ts: [b - a for a, b in zip(ts[1:], ts[2:], strict=False)]  # noqa: E731 - decode steps
    assert gaps(sliced) == pytest.approx([g * 7 / 3 for g in gaps(whole)], rel=1e-6)
    share = tmp_path / "gpu-0.share"
    shared, backend = asyncio.run(token_times({"mode": "time-slicing", "share_file": str(share)}))
    assert backend.gpu.shared and len(shared) == 5  # alone on its GPU: about the whole GPU's pace
    assert shared[-1] - shared[0] == pytest.approx(whole[-1] - whole[0], rel=0.5)
