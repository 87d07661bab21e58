"""The embedded device plugin (harness.platform.local.gpus) and the scenario's GPU declarations: what a node
advertises for whole, time-sliced and MIG GPUs, which device a pod gets, and the refusals of impossible partitions."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from harness.platform.local.gpus import Devices, node_resources, units_per_node
from harness.platform.local.nodelifecycle import node_object
from harness.platform.local.scheduler import why_not
from harness.scenario import NodesSpec


def _nodes(**gpu) -> NodesSpec:
    return NodesSpec.model_validate({"count": 1, "gpu_slots": 2, "gpu": gpu})


def test_what_a_node_advertises():
    assert node_resources(_nodes())[0] == {"nvidia.com/gpu": "2"}
    resources, labels = node_resources(_nodes(sharing="time-slicing", replicas=4))
    assert resources == {"nvidia.com/gpu": "8"} and labels["nvidia.com/gpu.replicas"] == "4"
    mig = _nodes(sharing="mig", mig={"1g.10gb": 4, "3g.40gb": 1})
    assert node_resources(mig)[0] == {"nvidia.com/mig-1g.10gb": "8", "nvidia.com/mig-3g.40gb": "2"}
    assert units_per_node(mig, "nvidia.com/mig-3g.40gb") == 2 and units_per_node(mig, "nvidia.com/gpu") == 0


@pytest.mark.parametrize(
    "gpu,words",
    [
        ({"sharing": "mig", "mig": {"3g.40gb": 3}}, "9 of 7 compute slices"),
        ({"sharing": "mig", "mig": {"2g.15gb": 1}}, "unknown MIG profile"),
        ({"sharing": "mig"}, "needs partitions"),
        ({"sharing": "none", "mig": {"1g.10gb": 7}}, "need sharing: mig"),
    ],
)
def test_impossible_partitions_are_refused(gpu, words):
    with pytest.raises(ValidationError, match=words):
        _nodes(**gpu)


def test_time_sliced_replicas_spread_over_the_gpus_and_share_a_file(tmp_path):
    devices = Devices(_nodes(sharing="time-slicing", replicas=2), str(tmp_path))
    got = [devices.assign("n0", f"pod-{i}", "nvidia.com/gpu", 1)[0] for i in range(4)]
    assert [g.uuid for g in got] == ["GPU-n0-0", "GPU-n0-1", "GPU-n0-0", "GPU-n0-1"]
    assert got[0].share_file == got[2].share_file != got[1].share_file and got[0].mode == "time-slicing"
    assert devices.assign("n0", "pod-4", "nvidia.com/gpu", 1) == []  # all four replicas taken
    devices.release("pod-1")
    assert devices.assign("n0", "pod-4", "nvidia.com/gpu", 1)[0].uuid == "GPU-n0-1"


def test_a_mig_slice_has_its_fraction_and_the_scheduler_counts_slices(tmp_path):
    nodes = _nodes(sharing="mig", mig={"3g.40gb": 2})
    slice_ = Devices(nodes, str(tmp_path)).assign("n0", "p", "nvidia.com/mig-3g.40gb", 1)[0]
    assert slice_.mode == "mig" and slice_.compute_fraction == pytest.approx(3 / 7) and slice_.memory_mib == 40960
    gpus, labels = node_resources(nodes)
    node = node_object("n0", 2, "127.0.0.1", labels, gpus)
    pod = {"spec": {"containers": [{"resources": {"limits": {"nvidia.com/mig-3g.40gb": "1"}}}]}}
    assert why_not(pod, node, {"n0": 3}) is None
    assert why_not(pod, node, {"n0": 4}) == "Insufficient nvidia.com/mig-3g.40gb"
