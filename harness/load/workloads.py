"""What each request carries and how a streamed answer is measured (no Locust or network here).

In: the scenario's workload (``predict`` or ``completions``), a seeded ``random.Random`` and, for
streams, the chunks of a server-sent-event body with their arrival times.  Out: request bodies
(``Requests.next_body``) and ``StreamStats`` (time of the first token, inter-token gaps, tokens).

Completions bodies follow the OpenAI API (``prompt``, ``max_tokens``, ``stream`` with
``stream_options.include_usage``, and ``model`` when the scenario names one); a
``body`` template replaces that default and has ``{{prompt}}``, ``{{max_tokens}}``, ``{{model}}`` and
``{{stream}}`` substituted (a value that is exactly a placeholder takes the typed value).  Prompt
lengths are in words of a small vocabulary, one word per token: a stand-in for a tokenizer that is
exact for the reference service and close for BPE tokenizers on plain English.

A stream is server-sent events (parsed by sse.py as the spec says: an event's ``data`` may span several
``data:`` lines, comments and ``event:``/``id:`` fields may appear, lines end with CRLF, LF or CR) whose
data is JSON, ending with an event whose data is ``[DONE]``.  Each event whose first choice carries text
(``choices[0].text`` or ``choices[0].delta.content``) is one token-bearing chunk, timed when the blank line
ending it arrived; the event type is not looked at.  Tokens out is the final ``usage.completion_tokens``
when the server sends it, else the number of such chunks.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from typing import Any

from harness.load.sse import Event, SseParser
from harness.scenario import CompletionsWorkload, Lengths, PredictWorkload

_TEXT = (
    "the model reads a long prompt and answers with tokens one at a time while the load generator "
    "measures when each of them arrives so that the benchmark can tell how fast the service is"
)
_WORDS = tuple(_TEXT.split())


def draw_length(lengths: Lengths, rng: random.Random) -> int:
    """One draw from a length distribution, rounded and clipped to [min, max]."""
    if lengths.distribution == "fixed":
        value = lengths.mean
    elif lengths.distribution == "uniform":
        value = rng.uniform(lengths.min, lengths.max)
    elif lengths.distribution == "normal":
        value = rng.gauss(lengths.mean, lengths.stddev)
    else:  # lognormal with the given mean and standard deviation
        sigma2 = math.log(1 + (lengths.stddev / lengths.mean) ** 2)
        value = rng.lognormvariate(math.log(lengths.mean) - sigma2 / 2, math.sqrt(sigma2))
    return int(min(max(round(value), lengths.min), lengths.max))


def make_prompt(n_tokens: int, rng: random.Random) -> str:
    """A prompt of ``n_tokens`` words (deterministic for a seeded ``rng``)."""
    start = rng.randrange(len(_WORDS))
    return " ".join(_WORDS[(start + i) % len(_WORDS)] for i in range(n_tokens))


def fill_template(template: Any, values: dict[str, Any]) -> Any:
    """Replace ``{{name}}`` placeholders in every string of a JSON-like template."""
    if isinstance(template, dict):
        return {k: fill_template(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [fill_template(v, values) for v in template]
    if isinstance(template, str):
        for name, value in values.items():
            token = "{{" + name + "}}"
            if template == token:
                return value
            template = template.replace(token, str(value))
    return template


class Requests:
    """Bodies for one load process's requests (its own seeded generator)."""

    def __init__(self, workload: PredictWorkload | CompletionsWorkload, seed: int) -> None:
        self.workload = workload
        self.rng = random.Random(seed)
        self.streaming = isinstance(workload, CompletionsWorkload) and workload.stream
        self._predict_body = json.dumps(workload.body) if isinstance(workload, PredictWorkload) else ""

    def next_body(self) -> str:
        """The JSON text of the next request."""
        workload = self.workload
        if isinstance(workload, PredictWorkload):
            return self._predict_body
        max_tokens = draw_length(workload.output_tokens, self.rng)
        prompt = make_prompt(draw_length(workload.prompt_tokens, self.rng), self.rng)
        values = {"prompt": prompt, "max_tokens": max_tokens, "model": workload.model or "", "stream": workload.stream}
        if workload.body is not None:
            return json.dumps(fill_template(workload.body, values))
        body: dict[str, Any] = {"prompt": prompt, "max_tokens": max_tokens, "stream": workload.stream}
        if workload.model:
            body["model"] = workload.model
        if workload.stream:
            body["stream_options"] = {"include_usage": True}
        return json.dumps(body)


@dataclass
class StreamStats:
    """Measurements of one streamed answer; times are seconds on the caller's clock."""

    first_token_s: float | None = None
    last_token_s: float | None = None
    chunks: int = 0
    usage_tokens: int | None = None
    gap_sum_s: float = 0.0
    gap_max_s: float = 0.0
    done: bool = False
    errors: list[str] = field(default_factory=list)
    parser: SseParser = field(default_factory=SseParser, repr=False)

    def add(self, chunk: bytes | str, t_s: float) -> None:
        """Feed the next piece of the event stream (any chunking), received at ``t_s``."""
        for event in self.parser.feed(chunk):
            self._event(event, t_s)

    def _event(self, event: Event, t_s: float) -> None:
        data = event.data.strip()
        if data == "[DONE]":
            self.done = True
            return
        try:
            payload = json.loads(data)
        except ValueError:
            self.errors.append(f"malformed event {data[:60]!r}")
            return
        usage = payload.get("usage") if isinstance(payload, dict) else None
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            self.usage_tokens = usage["completion_tokens"]
        if _has_text(payload):
            self._token(t_s)

    def _token(self, t_s: float) -> None:
        if self.first_token_s is None:
            self.first_token_s = t_s
        else:
            gap = t_s - (self.last_token_s or t_s)
            self.gap_sum_s += gap
            self.gap_max_s = max(self.gap_max_s, gap)
        self.last_token_s = t_s
        self.chunks += 1

    @property
    def tokens_out(self) -> int:
        return self.usage_tokens if self.usage_tokens is not None else self.chunks

    @property
    def itl_mean_ms(self) -> float | None:
        return None if self.chunks < 2 else self.gap_sum_s / (self.chunks - 1) * 1000.0

    @property
    def itl_max_ms(self) -> float | None:
        return None if self.chunks < 2 else self.gap_max_s * 1000.0


def _has_text(event: Any) -> bool:
    if not isinstance(event, dict):
        return False
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return False
    choice = choices[0]
    delta = choice.get("delta")
    content = delta.get("content") if isinstance(delta, dict) else None
    return bool(choice.get("text") or content)


def usage_tokens(body: bytes) -> int | None:
    """``usage.completion_tokens`` of a non-streamed JSON answer (None when absent or not JSON)."""
    try:
        usage = json.loads(body).get("usage") or {}
    except (ValueError, AttributeError):
        return None
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    return tokens if isinstance(tokens, int) else None
