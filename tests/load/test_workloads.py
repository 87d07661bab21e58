"""Request bodies, length distributions and the measurement of a server-sent-event stream."""

from __future__ import annotations

import json
import random
import statistics

import pytest

from harness.load.workloads import Requests, StreamStats, draw_length, fill_template, usage_tokens
from harness.scenario import CompletionsWorkload, Lengths, PredictWorkload


@pytest.mark.parametrize(
    ("lengths", "mean", "lo", "hi"),
    [
        (Lengths(mean=64), 64, 64, 64),
        (Lengths(distribution="uniform", min=10, max=30), 20, 10, 30),
        (Lengths(distribution="normal", mean=100, stddev=10, min=1, max=1000), 100, 40, 160),
        (Lengths(distribution="lognormal", mean=200, stddev=100, min=1, max=5000), 200, 1, 5000),
    ],
)
def test_length_distributions(lengths, mean, lo, hi):
    rng = random.Random(4)
    draws = [draw_length(lengths, rng) for _ in range(4000)]
    assert lo <= min(draws) and max(draws) <= hi
    assert statistics.fmean(draws) == pytest.approx(mean, rel=0.05)


def test_lengths_are_clipped():
    rng = random.Random(1)
    draws = {draw_length(Lengths(distribution="normal", mean=10, stddev=50, min=5, max=12), rng) for _ in range(500)}
    assert draws <= set(range(5, 13)) and {5, 12} <= draws


def test_completions_body_is_openai_style_and_seeded():
    workload = CompletionsWorkload(kind="completions", prompt_tokens=Lengths(mean=7), output_tokens=Lengths(mean=3))
    body = json.loads(Requests(workload, seed=9).next_body())
    assert body["max_tokens"] == 3 and body["stream"] is True and len(body["prompt"].split()) == 7
    assert Requests(workload, seed=9).next_body() == Requests(workload, seed=9).next_body()


def test_request_template_placeholders_keep_types():
    template = {
        "messages": [{"role": "user", "content": "Q: {{prompt}}"}],
        "max_new": "{{max_tokens}}",
        "stream": "{{stream}}",
    }
    workload = CompletionsWorkload(
        kind="completions", body=template, prompt_tokens=Lengths(mean=2), output_tokens=Lengths(mean=5)
    )
    body = json.loads(Requests(workload, seed=1).next_body())
    assert body["max_new"] == 5 and body["stream"] is True
    assert body["messages"][0]["content"].startswith("Q: ") and len(body["messages"][0]["content"].split()) == 3
    assert fill_template(["{{a}}x", 3], {"a": 1}) == ["1x", 3]


def test_predict_body_is_sent_as_given():
    assert json.loads(Requests(PredictWorkload(body={"inputs": [[1, 2]]}), seed=0).next_body()) == {"inputs": [[1, 2]]}


def test_stream_stats_from_known_timing():
    stats = StreamStats()
    events = [
        (0.0, b": keep-alive\n\n"),
        (0.25, 'data: {"choices":[{"text":"a"}]}\n\n'),
        (0.30, b'data: {"choices":[{"delta":{"content":"b"}}]}\n'),
        (0.30, b"\n"),
        (0.45, b'data: {"choices":[{"text":"c"}]}\r\n\r\n'),
        (0.50, b'data: {"choices":[{"text":""}],"usage":{"completion_tokens":4}}\n\n'),
        (0.50, b"data: [DONE]\n\n"),
    ]
    for t, chunk in events:
        stats.add(chunk, t)
    assert stats.first_token_s == 0.25 and stats.chunks == 3 and stats.done
    assert stats.itl_mean_ms == pytest.approx(100.0) and stats.itl_max_ms == pytest.approx(150.0)
    assert stats.tokens_out == 4  # the server's usage wins over the chunk count


def test_stream_stats_time_an_event_when_its_blank_line_arrives():
    stats = StreamStats()
    stats.add(b'data: {"choices":\n', 0.1)  # one JSON event over two data lines (joined with a newline)
    stats.add(b'data: [{"text":"a"}]}\n', 0.2)
    assert stats.chunks == 0
    stats.add(b"\nevent: x\nid: 1\ndata: [DONE]\r\r", 0.3)
    assert stats.chunks == 1 and stats.first_token_s == 0.3 and stats.done and not stats.errors


def test_stream_without_tokens_or_with_garbage():
    stats = StreamStats()
    stats.add(b"data: {not json}\n\n", 0.1)
    stats.add(b'data: {"choices":[{"text":"x"}]}\n\n', 0.2)
    assert stats.errors and stats.tokens_out == 1 and stats.itl_mean_ms is None and not stats.done


def test_usage_tokens_of_a_plain_answer():
    assert usage_tokens(b'{"usage": {"completion_tokens": 12}}') == 12
    assert usage_tokens(b"not json") is None and usage_tokens(b"[1]") is None
