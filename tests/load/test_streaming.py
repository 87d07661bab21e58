"""Streamed completions through the real load process: TTFT, inter-token gaps and tokens recorded."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest

from harness.procs import free_port, poll_until
from tests.load.conftest import Target, load_log, run_load, stream_app

FIRST_S, GAPS_S = 0.2, [0.05, 0.05, 0.05, 0.15]


def test_ttft_and_inter_token_gaps_from_a_stream_with_known_timing(serve, tmp_path):
    target = Target()
    url = serve(stream_app(target, FIRST_S, GAPS_S))
    load = {
        "model": "closed",
        "users": 1,
        "duration": "1.2s",
        "wait_time": "50ms",
        "timeout": "5s",
        "workload": {"kind": "completions", "prompt_tokens": {"mean": 16}, "output_tokens": {"mean": 5}},
    }
    result = run_load(tmp_path, url, load)
    rows = result.rows
    assert result.code == 0, load_log(result)
    assert len(rows) >= 1 and len(rows) == target.count and rows["ok"].all(), rows[["ok", "error"]]
    # Generous bounds: the stream's own timing is exact, a loaded machine only adds delay.
    for ttft in rows["ttft_ms"]:
        assert 200 <= ttft < 500
    expected_mean_ms = sum(GAPS_S) / len(GAPS_S) * 1000
    for itl_mean, itl_max in zip(rows["itl_mean_ms"], rows["itl_max_ms"], strict=True):
        assert 0.6 * expected_mean_ms <= itl_mean <= 1.8 * expected_mean_ms
        assert 140 <= itl_max < 400
    assert (rows["tokens_out"] == 5).all()
    assert (rows["latency_ms"] >= rows["ttft_ms"] + 300 - 50).all()  # the whole stream, not the headers
    assert (rows["bytes_out"] > 100).all()


def test_stream_without_done_is_a_failed_request_and_the_template_is_sent(serve, tmp_path):
    target = Target()
    url = serve(stream_app(target, 0.01, [0.01], done=False))
    template = {"input": "{{prompt}}", "limit": "{{max_tokens}}", "stream": True}
    load = {
        "model": "closed",
        "users": 1,
        "duration": "0.5s",
        "wait_time": "100ms",
        "endpoint": "/generate",
        "workload": {"kind": "completions", "body": template, "output_tokens": {"mean": 9}},
    }
    result = run_load(tmp_path, url, load)
    assert result.code == 0, load_log(result)
    rows = result.rows
    assert len(rows) == target.count >= 1
    assert not rows["ok"].any() and rows["error"].str.contains("without data: \\[DONE\\]").all()
    sent = json.loads(target.bodies[0])
    assert sent["limit"] == 9 and sent["stream"] is True and len(sent["input"].split()) == 128


def test_non_streamed_completion_reads_usage(serve, tmp_path):
    target = Target()
    url = serve(_usage_app(target))
    load = {
        "model": "closed",
        "users": 1,
        "duration": "0.5s",
        "wait_time": "100ms",
        "workload": {"kind": "completions", "stream": False},
    }
    result = run_load(tmp_path, url, load)
    assert result.code == 0, load_log(result)
    assert len(result.rows) == target.count >= 1
    assert (result.rows["tokens_out"] == 7).all() and result.rows["ttft_ms"].isna().all()


def _usage_app(target: Target):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        target.count += 1
        body = b'{"choices": [{"text": "x"}], "usage": {"completion_tokens": 7}}'
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})

    return app


@pytest.fixture
def llm_service(tmp_path):
    """The reference service with an emulated LLM profile, one replica on 127.0.0.1 (no balancer)."""
    port = free_port()
    config = '{"profile": "llama-3.1-8b-h100", "cold_start": 0}'
    argv = [sys.executable, "-m", "harness.service", "--port", str(port), "--config", config]
    with open(tmp_path / "service.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        try:
            return httpx.get(url + "/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    poll_until(ready, 30.0, 0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


def test_completions_against_the_reference_service(llm_service, tmp_path):
    load = {
        "rate_rps": 10,
        "duration": "2s",
        "arrivals": "poisson",
        "workload": {
            "kind": "completions",
            "prompt_tokens": {"distribution": "uniform", "min": 32, "max": 96},
            "output_tokens": {"mean": 16},
        },
    }
    result = run_load(tmp_path / "out", llm_service, load)
    assert result.code == 0, load_log(result)
    rows = result.rows
    assert len(rows) >= 5 and rows["ok"].all(), rows[["status", "error"]]
    assert (rows["tokens_out"] == 16).all()  # the service's usage event
    # The profile's decode step is 7 ms: every gap is at least most of that; a loaded machine adds delay.
    assert (rows["itl_mean_ms"] >= 5).all() and (rows["itl_mean_ms"] < 200).all()
    assert (rows["itl_max_ms"] >= rows["itl_mean_ms"]).all()
    assert (rows["ttft_ms"] > 0).all() and (rows["latency_ms"] > rows["ttft_ms"]).all()
