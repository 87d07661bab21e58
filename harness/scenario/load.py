"""The scenario's ``load`` and ``target`` sections: the open or closed model, its workload, an external endpoint.

In: the ``load`` mapping (a shape or the ``rate_rps`` + ``duration`` / ``stages`` shorthands) and ``target``.
Out: a frozen ``LoadSpec`` (``resolved_shape``, ``duration_s``, ``path``) and ``TargetSpec``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from harness.scenario.shapes import AnyShape, ConstantShape, Shape, Stage, StagesShape
from harness.scenario.units import Duration, _Model, _resolve_path

# ---- load: workloads -------------------------------------------------------------------------------


class Lengths(_Model):
    """A token-count distribution, clipped to [min, max]."""

    distribution: Literal["fixed", "uniform", "normal", "lognormal"] = Field("fixed", description="family")
    mean: float = Field(128.0, gt=0, description="fixed value, or the mean (normal, lognormal)")
    stddev: float = Field(0.0, ge=0, description="normal / lognormal spread")
    min: int = Field(1, ge=1, description="lower bound (uniform: low end)")
    max: int = Field(4096, ge=1, description="upper bound (uniform: high end)")

    @model_validator(mode="after")
    def _ordered(self) -> Lengths:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must be >= min ({self.min})")
        return self


class PredictWorkload(_Model):
    """POST a JSON body (default: the reference service's /v1/predict input) and read the reply."""

    kind: Literal["predict"] = "predict"
    body: dict[str, Any] = Field(default_factory=lambda: {"inputs": [[0.0] * 8]}, description="request body")


class CompletionsWorkload(_Model):
    """OpenAI-compatible /v1/completions, streamed (SSE): time to first token, inter-token gaps, tokens."""

    kind: Literal["completions"]
    model: str | None = Field(None, description="the request's model field (unset: left out, the server's default)")
    stream: bool = Field(True, description="ask for server-sent events (needed for TTFT and inter-token gaps)")
    prompt_tokens: Lengths = Field(default_factory=lambda: Lengths(mean=128), description="prompt length")
    output_tokens: Lengths = Field(default_factory=lambda: Lengths(mean=64), description="max_tokens asked for")
    body: dict[str, Any] | None = Field(
        None, description="request template; '{{prompt}}', '{{max_tokens}}', '{{model}}', '{{stream}}' replaced"
    )


Workload = Annotated[PredictWorkload | CompletionsWorkload, Field(discriminator="kind")]
_DEFAULT_ENDPOINT = {"predict": "/v1/predict", "completions": "/v1/completions"}


class LoadSpec(_Model):
    """The load: open model (an arrival-rate shape) or closed model (users); see docs/load.md."""

    model: Literal["open", "closed"] = Field("open", description="open: arrival rate; closed: looping users")
    rate_rps: float | None = Field(None, gt=0, description="constant arrival rate (shorthand for shape constant)")
    duration: Duration | None = Field(None, description="how long the constant rate (or the closed model) lasts")
    start_rps: float = Field(0.0, ge=0, description="rate at t=0 when stages are used")
    stages: list[Stage] | None = Field(None, description="shorthand for shape stages")
    shape: Shape | None = Field(None, description="constant | stages | spike | step | sine | diurnal | trace")
    arrivals: Literal["uniform", "poisson", "gamma"] = Field("uniform", description="arrival process")
    burstiness: float = Field(1.0, gt=0, description="gamma shape: 1 = Poisson, < 1 burstier, > 1 more even")
    seed: int = Field(1, ge=0, description="seed of every random draw (arrivals, lengths): same seed, same run")
    max_concurrency: int = Field(256, ge=1, description="cap on requests in flight; arrivals over it are dropped")
    timeout: Duration = Field(10.0, description="per-request timeout")
    endpoint: str | None = Field(None, description="request path; default: the workload's (/v1/predict ...)")
    workload: Workload = Field(default_factory=PredictWorkload, description="predict | completions")
    users: int | None = Field(None, ge=1, le=100_000, description="closed model: number of users")
    spawn_rate: float | None = Field(None, gt=0, description="closed model: users started per second (default all)")
    wait_time: Duration = Field(0.0, description="closed model: pause between a user's requests")
    wait_time_max: Duration | None = Field(None, description="closed model: pause drawn in [wait_time, this]")
    locustfile: str | None = Field(None, description="your own locustfile (closed model), relative to the working dir")
    workers: int = Field(1, ge=1, le=64, description="Locust worker processes (> 1: master/worker mode)")
    placement: Literal["local", "cluster"] = Field(
        "local",
        description="where the workers run: local processes, or (kibench cluster run) a Deployment of the harness "
        "image in the cluster, reaching the master in the Job's pod through a Service",
    )

    @field_validator("locustfile")
    @classmethod
    def _locustfile_path(cls, value: str | None) -> str | None:
        return None if value is None else str(_resolve_path(value))

    @model_validator(mode="after")
    def _consistent(self) -> LoadSpec:
        if self.model == "closed":
            if self.rate_rps is not None or self.stages is not None or self.shape is not None:
                raise ValueError("the closed model takes users + duration, not rate_rps, stages or shape")
            if self.users is None or not self.duration:
                raise ValueError("the closed model needs users (>= 1) and duration (> 0)")
        else:
            has_constant = self.rate_rps is not None or self.duration is not None
            given = [n for n, on in (("rate_rps", has_constant), ("stages", self.stages is not None),
                                     ("shape", self.shape is not None)) if on]  # fmt: skip
            if len(given) > 1:
                raise ValueError(f"give one of rate_rps + duration, stages or shape (got {' and '.join(given)})")
            if not given or self.stages == []:
                raise ValueError("give rate_rps + duration (constant load), a non-empty stages list, or a shape")
            if has_constant and (self.rate_rps is None or not self.duration):
                raise ValueError("constant load needs both rate_rps (> 0) and duration (> 0)")
            if self.users is not None or self.locustfile is not None:
                raise ValueError("users and locustfile belong to the closed model: add model: closed")
        if self.placement == "cluster" and self.locustfile is not None:
            raise ValueError("placement: cluster runs the workers from the harness image, which holds no locustfile "
                             "of yours: use placement: local (or build your locustfile into the image)")  # fmt: skip
        if self.wait_time_max is not None and self.wait_time_max < self.wait_time:
            raise ValueError("wait_time_max must be >= wait_time")
        if not 0 < self.duration_s < math.inf:
            raise ValueError(f"the load lasts {self.duration_s:g}s in all; it must last a finite time > 0")
        return self

    @property
    def resolved_shape(self) -> AnyShape | None:
        """The open model's shape (the shorthands as shape models); None for the closed model."""
        if self.model == "closed":
            return None
        if self.shape is not None:
            return self.shape
        if self.stages is not None:
            return StagesShape(kind="stages", start_rps=self.start_rps, stages=self.stages)
        return ConstantShape(kind="constant", rate_rps=float(self.rate_rps or 0), duration=float(self.duration or 0))

    @property
    def duration_s(self) -> float:
        """Total load duration in seconds."""
        shape = self.resolved_shape
        return float(self.duration or 0.0) if shape is None else shape.duration_s

    @property
    def path(self) -> str:
        """The request path: ``endpoint`` or the workload's default."""
        return self.endpoint or _DEFAULT_ENDPOINT[self.workload.kind]


class TargetSpec(_Model):
    """An endpoint that is already running: the load goes there and no service is deployed."""

    url: str = Field(pattern=r"^https?://[^/\s]+", description="base URL, e.g. http://127.0.0.1:8000")
    headers: dict[str, str] = Field(default_factory=dict, description="sent with every request")
    bearer_token_env: str | None = Field(
        None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="environment variable holding a bearer token"
    )
    probe: bool = Field(True, description="check that the URL answers before the load starts")
