"""Device profiles of the emulated backend: what a batch or a decode step costs on some model and GPU.

In: a profile name (a data file of the leaf package ``harness.profiledata``, ``harness/profiledata/<name>.yaml``,
each documenting where its numbers come from), a custom profile from the scenario (``ClassicProfileSpec`` /
``LLMProfileSpec``), or nothing (then ``device_time_ms`` makes a classic model with batch size 1).  Out: a
frozen ``ClassicProfile`` or ``LLMProfile`` with the cost formulas the batchers and the tests share:

    classic batch of n items   base_ms + per_item_ms x n
    LLM step                   step_base_ms + step_per_seq_ms x decoding_seqs + prefill_per_token_ms x prefill_tokens

Errors are ``ServiceConfigError`` (exit 2) naming the profile and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from harness import profiledata
from harness.errors import InputError
from harness.scenario import ClassicProfileSpec, LLMProfileSpec, ProfileSpec

PROFILE_DIR = profiledata.PROFILE_DIR


class ServiceConfigError(InputError):
    """The service was started with a configuration it cannot run (unknown profile, bad profile file)."""


@dataclass(frozen=True)
class ClassicProfile:
    """A classic model under dynamic batching (Triton-style)."""

    name: str
    base_ms: float
    per_item_ms: float = 0.0
    max_batch_size: int = 1
    max_queue_delay_ms: float = 0.0
    time_slice_overhead: float | None = None  # context switches on a time-sliced GPU; None: the node's setting
    source: str = ""
    kind: str = "classic"

    def batch_ms(self, size: int) -> float:
        """Device time of one batch of ``size`` items."""
        return self.base_ms + self.per_item_ms * size

    def max_throughput_rps(self) -> float:
        """Items per second when every batch is full (the profile's theoretical throughput)."""
        full = self.batch_ms(self.max_batch_size)
        return float("inf") if full <= 0 else self.max_batch_size / (full / 1000.0)


@dataclass(frozen=True)
class LLMProfile:
    """An LLM under continuous batching (vLLM-style, chunked prefill)."""

    name: str
    prefill_per_token_ms: float
    step_base_ms: float
    step_per_seq_ms: float
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    max_model_len: int = 8192
    time_slice_overhead: float | None = None  # context switches on a time-sliced GPU; None: the node's setting
    source: str = ""
    kind: str = "llm"

    def step_ms(self, decoding_seqs: float, prefill_tokens: float = 0) -> float:
        """Device time of one engine step."""
        return self.step_base_ms + self.step_per_seq_ms * decoding_seqs + self.prefill_per_token_ms * prefill_tokens

    def ttft_ms(self, prompt_tokens: int, concurrent: int = 1) -> float:
        """Time to first token when ``concurrent`` prompts of this length arrive together at an idle engine."""
        return self.step_ms(0, prompt_tokens * concurrent)

    def max_throughput_tokens_per_s(self) -> float:
        """Generated tokens per second with every sequence slot decoding."""
        step = self.step_ms(self.max_num_seqs)
        return float("inf") if step <= 0 else self.max_num_seqs / (step / 1000.0)

    def max_throughput_rps(self, prompt_tokens: int, output_tokens: int) -> float:
        """Requests per second with every sequence slot busy, for requests of ``prompt_tokens`` in and
        ``output_tokens`` out (the profile's theoretical throughput; harness/service/continuous.py).

        A request holds its slot for ``output_tokens`` steps: one that prefills its whole prompt (and emits
        the first token), then O - 1 that decode.  With all M = ``max_num_seqs`` slots busy, M / O requests
        finish per step and, on average, M / O sequences prefill P tokens each while M (O - 1) / O decode, so a
        step takes ``step_ms(M (O - 1) / O, P M / O)``.  Exact while a step can prefill every prompt that
        joins it (M x P within ``max_num_batched_tokens``); a longer prompt is chunked over several steps and
        the replica serves less."""
        m, o = self.max_num_seqs, max(1, output_tokens)
        step = self.step_ms(m * (o - 1) / o, max(1, prompt_tokens) * m / o)
        return float("inf") if step <= 0 else (m / o) / (step / 1000.0)


Profile = ClassicProfile | LLMProfile
_SPEC = TypeAdapter(ProfileSpec)


def profile_names() -> list[str]:
    """Names of the shipped profiles."""
    return profiledata.names()


def from_spec(spec: ClassicProfileSpec | LLMProfileSpec) -> Profile:
    """A validated profile spec (scenario or data file) as the frozen profile the service uses."""
    data = spec.model_dump()
    data.pop("kind")
    if isinstance(spec, ClassicProfileSpec):
        return ClassicProfile(**data)
    return LLMProfile(**data)


def load_profile(name: str) -> Profile:
    """Read the shipped profile ``name``; a ``ServiceConfigError`` lists the known names when it is missing."""
    path = profiledata.path(name)
    if path is None:
        known = ", ".join(profile_names())
        raise ServiceConfigError(f"profile {name!r}: no such profile; use one of {known} or a custom profile")
    try:
        return from_spec(_SPEC.validate_python(profiledata.read(name)))
    except (yaml.YAMLError, ValidationError) as exc:
        raise ServiceConfigError(f"{path}: not a valid profile file ({exc}); fix the file") from exc


def resolve(profile: Any, device_time_ms: float) -> Profile:
    """The profile a replica runs: named, custom (mapping or spec), or batch-1 ``device_time_ms``."""
    if profile is None:
        return ClassicProfile(name="emulated", base_ms=device_time_ms, source="scenario service.device_time_ms")
    if isinstance(profile, ClassicProfile | LLMProfile):
        return profile
    if isinstance(profile, str):
        return load_profile(profile)
    if isinstance(profile, ClassicProfileSpec | LLMProfileSpec):
        return from_spec(profile)
    try:
        return from_spec(_SPEC.validate_python(profile))
    except ValidationError as exc:
        raise ServiceConfigError(f"service.profile: not a valid custom profile ({exc}); fix the scenario") from exc
