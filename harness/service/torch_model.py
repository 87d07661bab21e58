"""The real-model backend (optional extra ``torch``): a small MLP classifier built in code, no download.

In: per request ``{"inputs": [[f0..f7], ...]}`` (rows of ``in_features`` numbers; one flat row is also
accepted).  Out: per request one ``{"label", "score"}`` per row.  ``load`` builds the network with fixed
seeded weights on CUDA when available, else CPU; ``run`` executes one whole batch (every row of every
request concatenated) under ``torch.inference_mode`` and returns when the device has finished, so the
dynamic batcher measures real device time.  Importing this module does not import torch; ``load`` does,
and raises ``ServiceConfigError`` naming the extra to install when it is missing.
"""

from __future__ import annotations

import math
from typing import Any

from harness.service.profiles import ServiceConfigError
from harness.service.schemas import ApiError

IN_FEATURES = 8
HIDDEN = 1024
CLASSES = 10
SEED = 1234


def torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class TorchRunner:
    """A 3-layer MLP (8 → 1024 → 1024 → 10) with seeded weights."""

    example_inputs = [[0.5] * IN_FEATURES]

    def __init__(self, hidden: int = HIDDEN, max_rows: int = 4096) -> None:
        self.hidden = hidden
        self.max_rows = max_rows
        self.device = "cpu"
        self._model: Any = None
        self._torch: Any = None

    def load(self) -> None:
        try:
            import torch
        except ImportError as exc:
            raise ServiceConfigError(
                "service.backend: 'torch' needs PyTorch; install it with pip install 'kibench[torch]'"
            ) from exc
        torch.manual_seed(SEED)
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        model = torch.nn.Sequential(
            torch.nn.Linear(IN_FEATURES, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, self.hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(self.hidden, CLASSES),
        )
        self._model = model.to(self.device).eval()
        self._torch = torch

    def check(self, inputs: list[Any]) -> None:
        """ApiError(422) naming the bad row unless ``inputs`` are rows of IN_FEATURES finite numbers."""
        rows = _rows(inputs)
        if not rows:
            raise ApiError(422, f"inputs: give at least one row of {IN_FEATURES} numbers", param="inputs")
        if len(rows) > self.max_rows:
            raise ApiError(422, f"inputs: at most {self.max_rows} rows", param="inputs")
        for i, row in enumerate(rows):
            ok = isinstance(row, list) and len(row) == IN_FEATURES
            if not ok or not all(_finite(v) for v in row):
                raise ApiError(422, f"inputs[{i}]: expected {IN_FEATURES} finite numbers", param=f"inputs[{i}]")

    def run(self, payloads: list[Any]) -> list[Any]:
        torch = self._torch
        per_request = [_rows(p.get("inputs", [])) for p in payloads]
        flat = [row for rows in per_request for row in rows]
        with torch.inference_mode():
            x = torch.tensor(flat, dtype=torch.float32, device=self.device)
            probs = torch.softmax(self._model(x), dim=1)
            score, label = probs.max(dim=1)
            if self.device == "cuda":
                torch.cuda.synchronize()
            scores, labels = score.tolist(), label.tolist()
        out: list[Any] = []
        i = 0
        for rows in per_request:
            out.append([{"label": f"class_{labels[j]}", "score": round(scores[j], 4)} for j in range(i, i + len(rows))])
            i += len(rows)
        return out


def _rows(inputs: Any) -> list[Any]:
    if isinstance(inputs, list) and inputs and not isinstance(inputs[0], list):
        return [inputs]
    return list(inputs) if isinstance(inputs, list) else []


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
