"""The scenario's ``service`` section: the reference service to deploy and its device profile.

In: the ``service`` mapping; a profile by name (one of ``harness.profiledata``'s files) or a custom one.
Out: a frozen ``ServiceSpec``; ``ProfileSpec`` (classic | llm) is also how ``harness.service`` reads profile files.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from harness import deployspec, profiledata
from harness.scenario.units import SIMULATED_MAX_SCALE, Duration, _Model

_MODEL_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:/-]*$"


class ClassicProfileSpec(_Model):
    """An emulated classic model (e.g. an image classifier): dynamic batching, a batch takes base + per item."""

    kind: Literal["classic"]
    name: str = Field("custom-classic", pattern=_MODEL_ID, max_length=128, description="model id in /v1/models")
    base_ms: float = Field(ge=0, description="device time of a batch, fixed part")
    per_item_ms: float = Field(0.0, ge=0, description="device time added by each item of the batch")
    max_batch_size: int = Field(1, ge=1, le=4096, description="largest batch the device runs")
    max_queue_delay_ms: float = Field(0.0, ge=0, description="longest a request waits for its batch to fill")
    time_slice_overhead: float | None = Field(
        None, ge=0, lt=1, description="time-sliced GPU: share of its speed this model loses to context switches "
        "while more than one replica has work on it; unset: the node's nodes.gpu.time_slice_overhead",
    )
    source: str = Field("", description="where the numbers come from")


class LLMProfileSpec(_Model):
    """An emulated LLM: continuous batching; a step = step_base + per decoding seq + per prefill token."""

    kind: Literal["llm"]
    name: str = Field("custom-llm", pattern=_MODEL_ID, max_length=128, description="model id in /v1/models")
    max_num_seqs: int = Field(256, ge=1, le=8192, description="sequences running at once")
    max_num_batched_tokens: int = Field(8192, ge=1, description="prompt tokens prefilled per step (chunked)")
    prefill_per_token_ms: float = Field(ge=0, description="device time per prompt token prefilled")
    step_base_ms: float = Field(ge=0, description="device time of one decode step, fixed part")
    step_per_seq_ms: float = Field(ge=0, description="device time added by each running sequence")
    max_model_len: int = Field(8192, ge=2, description="prompt + max_tokens limit (400 beyond it)")
    time_slice_overhead: float | None = Field(
        None, ge=0, lt=1, description="time-sliced GPU: share of its speed this model loses to context switches "
        "while more than one replica has work on it; unset: the node's nodes.gpu.time_slice_overhead",
    )
    source: str = Field("", description="where the numbers come from")


ProfileSpec = Annotated[ClassicProfileSpec | LLMProfileSpec, Field(discriminator="kind")]


class ServiceSpec(_Model):
    """The reference inference service to deploy."""

    replicas: int = Field(2, ge=1, le=SIMULATED_MAX_SCALE, description="initial number of replicas")
    backend: Literal["emulated", "torch"] = Field(
        "emulated", description="emulated device, or a small real PyTorch model (needs the `torch` extra)"
    )
    device_time_ms: float = Field(
        50.0, ge=0, description="device time per request when no profile is given (batch size 1)"
    )
    cold_start: Duration = Field(1.0, description="model-load time before warm-up and /readyz answering 200")
    profile: ProfileSpec | str | None = Field(
        None, description="a named profile (docs/service.md) or a custom one ({kind: classic|llm, ...})"
    )
    max_queue: int = Field(256, ge=1, le=100_000, description="requests waiting for the device; beyond: 429")
    request_timeout: Duration = Field(30.0, description="per-request deadline (first token when streaming): 504")
    max_body_bytes: int = Field(1 << 20, ge=64, description="larger request bodies get 413")
    # How the pods run on a cluster (harness/deployspec.py, docs/kubernetes.md#image-resources-and-placement):
    image: deployspec.ImageRef = Field(deployspec.SERVICE_IMAGE, description="container image (default: the "
                                       "reference service, the Dockerfile's service target)")  # fmt: skip
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(None, description="unset: "
                                                                                  "Kubernetes' default")  # fmt: skip
    image_pull_secrets: deployspec.PullSecrets = Field(default_factory=list, description="docker-registry Secrets")
    resources: deployspec.ResourcesSpec | None = Field(None, description="requests/limits: cpu, memory, "
                                                       "nvidia.com/gpu (default: platform.pod's)")  # fmt: skip
    node_selector: deployspec.NodeSelector = Field(default_factory=dict, description="node labels to land on")
    tolerations: list[deployspec.Toleration] = Field(default_factory=list, description="taints to tolerate")

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: Any) -> Any:
        names = profiledata.names()
        if isinstance(value, str) and value not in names:  # by name, not by path: no OSError, no '../'
            raise ValueError(f"unknown profile {value!r}; use one of {', '.join(names)} or a mapping with kind")
        return value
