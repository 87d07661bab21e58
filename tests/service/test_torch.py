"""The real-model backend (extra ``torch``): skipped when PyTorch is not installed."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from harness.service import ServiceConfig
from harness.service.torch_model import IN_FEATURES, TorchRunner, torch_available
from tests.service.conftest import in_process

pytestmark = pytest.mark.skipif(not torch_available(), reason="needs PyTorch: pip install 'kibench[torch]'")


def test_runner_batches_rows_of_every_request_and_is_deterministic() -> None:
    runner = TorchRunner(hidden=64)
    runner.load()
    payloads = [{"inputs": [[0.1] * IN_FEATURES]}, {"inputs": [[0.2] * IN_FEATURES, [0.3] * IN_FEATURES]}]
    out = runner.run(payloads)
    assert [len(rows) for rows in out] == [1, 2]
    again = TorchRunner(hidden=64)
    again.load()
    assert again.run(payloads) == out  # seeded weights: the same answers on every replica


def test_torch_backend_serves_predict_with_dynamic_batching() -> None:
    async def scenario() -> tuple[list[httpx.Response], httpx.Response, dict]:
        async with in_process(ServiceConfig(backend="torch")) as client:
            rows = {"inputs": [[0.5] * IN_FEATURES]}
            responses = await asyncio.gather(*(client.post("/v1/predict", json=rows) for _ in range(64)))
            bad = await client.post("/v1/predict", json={"inputs": [[1.0, 2.0]]})
            model = (await client.get("/v1/models")).json()["data"][0]
            return responses, bad, model

    responses, bad, model = asyncio.run(scenario())
    assert all(r.status_code == 200 for r in responses)
    assert max(r.json()["batch_size"] for r in responses) > 1
    assert bad.status_code == 422 and bad.json()["error"]["param"] == "inputs[0]"
    assert model["id"] == "torch-mlp" and model["backend"] == "torch"


@pytest.mark.gpu
def test_torch_backend_uses_cuda_when_present() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    runner = TorchRunner()
    runner.load()
    assert runner.device == "cuda"
