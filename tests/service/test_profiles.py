"""Device profiles and the service config: shipped files, custom profiles, the device_time_ms default."""

from __future__ import annotations

import json

import pytest

from harness.errors import ScenarioError
from harness.scenario import validate
from harness.service.config import ServiceConfig, config_from_flags, config_from_section
from harness.service.profiles import (
    PROFILE_DIR,
    ClassicProfile,
    LLMProfile,
    ServiceConfigError,
    load_profile,
    profile_names,
    resolve,
)


def test_at_least_three_real_profiles_ship_each_documenting_its_source() -> None:
    names = profile_names()
    profiles = [load_profile(name) for name in names]
    real = [p for p in profiles if p.name != "noop"]
    assert len(real) >= 3
    assert any(isinstance(p, ClassicProfile) for p in real) and any(isinstance(p, LLMProfile) for p in real)
    for profile in profiles:
        assert profile.source, f"{profile.name}: the profile must say where its numbers come from"
        text = (PROFILE_DIR / f"{profile.name}.yaml").read_text()
        assert text.startswith("#"), f"{profile.name}: the file opens with a comment documenting its numbers"


def test_cost_formulas() -> None:
    classic = ClassicProfile(name="c", base_ms=2.0, per_item_ms=0.5, max_batch_size=8)
    assert classic.batch_ms(8) == 6.0
    assert classic.max_throughput_rps() == pytest.approx(8 / 0.006)
    llm = LLMProfile(name="l", prefill_per_token_ms=0.1, step_base_ms=10.0, step_per_seq_ms=1.0, max_num_seqs=4)
    assert llm.step_ms(4) == 14.0
    assert llm.ttft_ms(100, concurrent=2) == 10.0 + 0.1 * 200
    assert llm.max_throughput_tokens_per_s() == pytest.approx(4 / 0.014)


def test_device_time_ms_alone_is_a_batch_one_classic_model() -> None:
    profile = resolve(None, 50.0)
    assert isinstance(profile, ClassicProfile)
    assert (profile.base_ms, profile.per_item_ms, profile.max_batch_size, profile.max_queue_delay_ms) == (50, 0, 1, 0)


def test_smoke_scenario_section_keeps_its_meaning() -> None:
    section = {"replicas": 2, "backend": "emulated", "device_time_ms": 50, "cold_start": 1.0}
    config = config_from_section(json.dumps(section), "pod-1")
    assert config.replica == "pod-1" and config.cold_start_s == 1.0
    assert config.model() == resolve(None, 50.0)


def test_section_with_named_and_custom_profiles_and_unknown_keys() -> None:
    named = config_from_section({"profile": "llama-3.1-8b-h100", "future_field": 1}, "r")
    assert isinstance(named.model(), LLMProfile) and named.model().name == "llama-3.1-8b-h100"
    custom = {"kind": "classic", "name": "mine", "base_ms": 3, "per_item_ms": 1, "max_batch_size": 4}
    config = config_from_section({"profile": custom, "max_queue": 7, "request_timeout": 2.5}, "r")
    assert config.model() == ClassicProfile(name="mine", base_ms=3, per_item_ms=1, max_batch_size=4)
    assert (config.max_queue, config.request_timeout_s) == (7, 2.5)


def test_unknown_profile_is_a_clear_input_error() -> None:
    with pytest.raises(ServiceConfigError, match="resnet50-t4") as info:
        config_from_flags("r", "no-such-profile")
    assert info.value.exit_code == 2
    with pytest.raises(ServiceConfigError):
        ServiceConfig(profile="../etc/passwd").model()


def test_scenario_validation_names_the_profile_field() -> None:
    base = {"name": "s", "load": {"rate_rps": 1, "duration": 1}}
    with pytest.raises(ScenarioError, match=r"service\.profile: unknown profile 'nope'"):
        validate({**base, "service": {"profile": "nope"}}, "s.yaml")
    with pytest.raises(ScenarioError, match=r"service\.profile\.llm\.step_base_ms"):
        bad = {"kind": "llm", "prefill_per_token_ms": 1, "step_base_ms": -1, "step_per_seq_ms": 1}
        validate({**base, "service": {"profile": bad}}, "s.yaml")
    ok = validate({**base, "service": {"profile": "resnet50-t4"}}, "s.yaml")
    assert ok.service.profile == "resnet50-t4"


def test_torch_backend_refuses_an_llm_profile() -> None:
    with pytest.raises(ServiceConfigError, match="torch"):
        config_from_flags("r", "llama-3.1-8b-h100", backend="torch")
    with pytest.raises(ServiceConfigError, match="backend"):
        config_from_flags("r", None, backend="tpu")
