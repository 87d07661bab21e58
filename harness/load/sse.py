"""A server-sent-events parser that follows the WHATWG spec ("Interpreting an event stream").

In: the bytes (or text) of an event stream in any chunking, as they arrive.  Out: each complete ``Event``
(its ``event`` type, ``data``, the last event ``id`` and ``retry``) as soon as the blank line that ends it
has arrived.  No network and no Locust here: the load engine's client feeds it what the socket delivered.

What the spec asks, and this does:

- lines end with CRLF, LF or CR; a CR ends its line at once, and when it is the last character of a
  chunk an LF that opens the next chunk is taken as the rest of that CRLF (an event is never held back
  waiting for the next chunk);
- the stream is UTF-8, decoded incrementally (a character split across chunks is kept whole; a byte
  that is not UTF-8 becomes U+FFFD) and one leading BOM is dropped;
- a line ``field: value`` (one space after the colon dropped), ``field`` alone (empty value), or a
  ``:comment`` (ignored); unknown fields are ignored;
- ``data`` lines accumulate: an event with several of them has its values joined with ``"\\n"``;
- a blank line dispatches the event, unless no ``data`` line came (then the event type is reset and
  nothing is dispatched); the type defaults to ``message``;
- ``id`` sets the last event id (kept for later events; ignored when it contains NUL), ``retry`` the
  reconnection time in ms (only when all ASCII digits);
- an event the stream ends in the middle of (no blank line after it) is not dispatched.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

_BOM = "\ufeff"


@dataclass(frozen=True)
class Event:
    """One dispatched event."""

    data: str
    event: str = "message"
    id: str | None = None
    retry_ms: int | None = None


class SseParser:
    """Feed chunks of a stream; complete events come out of ``feed``."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._buffer = ""
        self._started = False  # the BOM check is done
        self._skip_lf = False  # the last chunk ended with a CR: an LF opening the next one completes a CRLF
        self._data: list[str] = []
        self._event = ""
        self._last_id: str | None = None
        self._retry_ms: int | None = None

    def feed(self, chunk: bytes | str) -> list[Event]:
        """The events completed by ``chunk`` (often none, sometimes several)."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix(_BOM)
        if self._skip_lf:
            self._skip_lf = False
            text = text.removeprefix("\n")
        buffer = self._buffer + text
        events: list[Event] = []
        start = 0
        while (cut := _line_end(buffer, start)) is not None:
            end, width = cut
            event = self._line(buffer[start:end])
            if event is not None:
                events.append(event)
            start = end + width
        self._buffer = buffer[start:]
        self._skip_lf = start > 0 and start == len(buffer) and buffer[-1] == "\r"
        return events

    def _line(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        data, event_type = self._data, self._event
        self._data, self._event = [], ""
        if not data:
            return None
        return Event("\n".join(data), event_type or "message", self._last_id, self._retry_ms)


def _line_end(text: str, start: int) -> tuple[int, int] | None:
    """Index and width of the first line end (CRLF, LF or CR) at or after ``start``; None when none yet."""
    lf = text.find("\n", start)
    cr = text.find("\r", start, lf if lf >= 0 else len(text))
    if cr >= 0:
        return cr, 2 if text.startswith("\n", cr + 1) else 1
    return (lf, 1) if lf >= 0 else None


def parse(stream: bytes | str) -> list[Event]:
    """Every complete event of a whole stream."""
    return SseParser().feed(stream)
