"""Continuous batching (LLM profiles) in the per-request mode: a replica steps as the reference service's engine
does (harness.service.continuous), with the lengths the load generator would send."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.errors import InputError
from harness.load.workloads import Requests
from harness.scenario import validate
from harness.service.profiles import load_profile
from harness.simulate import SimOptions, simulate

PROFILE = "llama-3.1-8b-h100"


def _scenario(rate_rps: float, prompt: dict, output: dict, **load: object) -> object:
    return validate({
        "name": "llm", "service": {"replicas": 1, "profile": PROFILE, "cold_start": "1s"},
        "load": {"rate_rps": rate_rps, "duration": "10s", "timeout": "60s", **load,
                 "workload": {"kind": "completions", "prompt_tokens": prompt, "output_tokens": output}},
        "slo_defaults": False,
    }, "test")  # fmt: skip


def test_a_lone_sequence_prefills_then_decodes_one_token_a_step(tmp_path: Path) -> None:
    profile = load_profile(PROFILE)
    scenario = _scenario(0.5, {"mean": 500}, {"mean": 20})  # one request every 2 s: each runs alone
    outcome = simulate(scenario, tmp_path, SimOptions(mode="des", overhead_ms=0.0), analyse=False)
    rows = pd.read_parquet(outcome.run_dir / "requests.parquet")
    assert len(rows) == 5 and rows["ok"].all() and (rows["tokens_out"] == 20).all()
    ttft = profile.step_ms(0, 500)  # the whole prompt in one step (under max_num_batched_tokens)
    assert np.allclose(rows["ttft_ms"], ttft)
    assert np.allclose(rows["itl_mean_ms"], profile.step_ms(1)) and np.allclose(rows["itl_max_ms"], profile.step_ms(1))
    assert np.allclose(rows["latency_ms"], ttft + 19 * profile.step_ms(1))


def test_concurrent_sequences_share_the_steps(tmp_path: Path) -> None:
    profile = load_profile(PROFILE)
    # 10 rps x 200 tokens = 2 tokens/ms; n sequences decode n / (7 + 0.2 n) tokens/ms: n = 23 (Little's law)
    scenario = _scenario(10, {"mean": 100}, {"mean": 200})
    outcome = simulate(scenario, tmp_path, SimOptions(mode="des", overhead_ms=0.0))
    rows = pd.read_parquet(outcome.run_dir / "requests.parquet")
    assert rows["ok"].all()
    late = rows[rows["t_intended_s"] > rows["t_intended_s"].min() + 6.0]  # the engine is full by then
    decoding = (late["itl_mean_ms"] - profile.step_base_ms) / profile.step_per_seq_ms  # the step's sequences
    assert 18 <= decoding.median() <= 32  # the prefills of the joining prompts lengthen some steps
    summary = outcome.summary
    assert summary is not None and summary["metrics"]["ttft_ms"]["p95"] is not None


def test_lengths_are_drawn_as_the_load_draws_them(tmp_path: Path) -> None:
    scenario = _scenario(5, {"distribution": "uniform", "min": 10, "max": 50},
                         {"distribution": "uniform", "min": 5, "max": 40})  # fmt: skip
    outcome = simulate(scenario, tmp_path, SimOptions(mode="des"), analyse=False)
    rows = pd.read_parquet(outcome.run_dir / "requests.parquet").sort_values("t_intended_s")
    load = Requests(scenario.load.workload, seed=scenario.load.seed * 1009 + 0 + 1)  # harness.load.session
    asked = [json.loads(load.next_body())["max_tokens"] for _ in range(len(rows))]
    assert rows["tokens_out"].tolist() == asked


def test_long_streams_over_the_users_are_dropped_and_fluid_is_refused(tmp_path: Path) -> None:
    scenario = _scenario(10, {"mean": 100}, {"mean": 400}, max_concurrency=4)  # each stream ~3 s: 30 want in
    outcome = simulate(scenario, tmp_path / "d", SimOptions(mode="des"), analyse=False)
    stats = json.loads((outcome.run_dir / "load-w0.json").read_text())
    assert stats["dropped"] > 50 and stats["scheduled"] + stats["dropped"] == 100
    with pytest.raises(InputError, match="continuous batching is modelled per request only"):
        simulate(scenario, tmp_path / "f", SimOptions(mode="fluid"), analyse=False)
