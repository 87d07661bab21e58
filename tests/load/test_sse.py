"""The SSE parser against the WHATWG spec ("Interpreting an event stream"), in any chunking."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.load.sse import Event, SseParser, parse


def test_data_lines_of_one_event_are_joined_with_newlines():
    assert parse("data: {\n" + 'data: "a": 1\n' + "data: }\n\n") == [Event('{\n"a": 1\n}')]


def test_one_space_after_the_colon_is_dropped_and_only_one():
    assert [e.data for e in parse("data:x\n\ndata: x\n\ndata:  x\n\ndata\n\n")] == ["x", "x", " x", ""]


def test_comments_and_unknown_fields_are_ignored():
    assert parse(": keep-alive\n:\nfoo: bar\ndata: a\n: more\n\n") == [Event("a")]


def test_event_type_id_and_retry():
    events = parse("event: ping\nid: 7\nretry: 1500\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")
    assert events[0] == Event("a", "ping", "7", 1500)
    assert events[1] == Event("b", "message", "7", 1500)  # the type resets, the last id and retry stay
    assert events[2].id == ""  # an empty id resets it


def test_id_with_nul_and_retry_not_all_ascii_digits_are_ignored():
    events = parse("id: 1\n\nid: a\0b\nretry: 10s\nretry: \u0662\ndata: x\n\n")
    assert events == [Event("x", "message", "1", None)]


def test_a_blank_line_without_data_dispatches_nothing_and_resets_the_type():
    assert parse("event: ping\n\ndata: x\n\n") == [Event("x")]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_every_line_end(eol):
    stream = eol.join(["data: a", "data: b", "", ": c", "data: [DONE]", "", ""])
    assert [e.data for e in parse(stream)] == ["a\nb", "[DONE]"]


def test_mixed_line_ends_and_a_crlf_split_across_chunks():
    parser = SseParser()
    assert parser.feed(b"data: a\r") == []
    assert parser.feed(b"\ndata: b\n\r") == [Event("a\nb")]  # CR LF is one line end, then LF, then CR
    assert parser.feed(b"\n") == []  # an LF right after a lone CR ending a chunk completes that CRLF
    assert parser.feed(b"data: c\r\r") == [Event("c")]  # dispatched at once, not held for a possible LF


def test_an_event_the_stream_ends_inside_is_not_dispatched():
    assert parse("data: a\n\ndata: b\n") == [Event("a")]
    assert parse("data: a") == []


def test_utf8_split_across_chunks_and_a_leading_bom():
    raw = "\ufeffdata: é€😀\n\n".encode()
    parser = SseParser()
    events = [e for i in range(len(raw)) for e in parser.feed(raw[i : i + 1])]
    assert events == [Event("é€😀")]
    assert parse("\ufeff\ufeffdata: x\n\n") == []  # only one BOM is dropped: the second is part of a field name


def test_bytes_that_are_not_utf8_are_replaced():
    assert parse(b"data: a\xffb\n\n") == [Event("a\ufffdb")]


_VALUE = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"), max_size=8)
_LINES = st.lists(
    st.one_of(
        st.builds(lambda v: f"data: {v}", _VALUE),
        st.sampled_from(["", ": comment", "event: tick", "id: 3", "retry: 20", "data", "bogus: 1"]),
    ),
    max_size=20,
)


@settings(max_examples=150, deadline=None)
@given(lines=_LINES, eol=st.sampled_from(["\n", "\r\n", "\r"]), cuts=st.lists(st.integers(0, 400), max_size=6))
def test_any_chunking_gives_the_same_events(lines, eol, cuts):
    raw = (eol.join(lines) + eol).encode()
    whole = parse(raw)
    parser = SseParser()
    bounds = [0, *sorted(c for c in cuts if c < len(raw)), len(raw)]
    pieces = [e for a, b in zip(bounds, bounds[1:], strict=False) for e in parser.feed(raw[a:b])]
    assert pieces == whole
    assert len(whole) <= lines.count("")  # one event per blank line at most
