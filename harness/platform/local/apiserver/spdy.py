"""SPDY/3.1 framing, the subset ``kubectl port-forward`` uses (what a kubelet's port-forward speaks).

In: bytes from the client (``FrameReader.feed``), in any chunking.  Out: ``Frame``s (control frames with their
type, flags and payload; data frames with their stream id, flags and payload), SYN_STREAM headers decompressed
(``Headers.read``), and the bytes of the frames the server sends: ``syn_reply``, ``data``, ``ping``,
``rst_stream``, ``goaway`` (headers compressed by ``Headers.write``).

Header blocks are one zlib stream per direction and connection, primed with SPDY/3's dictionary (``DICTIONARY``,
built from the list in the SPDY/3 draft, section 2.6.10.1) and flushed with Z_SYNC_FLUSH after each block; a block
is a 32-bit count, then each name and value with a 32-bit length (all big-endian).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
RST_CANCEL = 5

_WORDS = [
    "options",
    "head",
    "post",
    "put",
    "delete",
    "trace",
    "accept",
    "accept-charset",
    "accept-encoding",
    "accept-language",
    "accept-ranges",
    "age",
    "allow",
    "authorization",
    "cache-control",
    "connection",
    "content-base",
    "content-encoding",
    "content-language",
    "content-length",
    "content-location",
    "content-md5",
    "content-range",
    "content-type",
    "date",
    "etag",
    "expect",
    "expires",
    "from",
    "host",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "last-modified",
    "location",
    "max-forwards",
    "pragma",
    "proxy-authenticate",
    "proxy-authorization",
    "range",
    "referer",
    "retry-after",
    "server",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "user-agent",
    "vary",
    "via",
    "warning",
    "www-authenticate",
    "method",
    "get",
    "status",
]
_WORDS_AFTER_STATUS = ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)
DICTIONARY = b"".join(struct.pack(">I", len(w)) + w.encode() for w in [*_WORDS, *_WORDS_AFTER_STATUS]) + _TAIL.encode()


@dataclass(frozen=True)
class Frame:
    control: bool
    kind: int  # control: the frame type; data: 0
    flags: int
    payload: bytes
    stream_id: int = 0  # data frames (control frames carry theirs in the payload)

    @property
    def fin(self) -> bool:
        return bool(self.flags & FLAG_FIN)


class FrameReader:
    """Frames out of a byte stream that arrives in pieces."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer)
            length = second & 0xFFFFFF
            if len(self._buffer) < 8 + length:
                break
            payload = bytes(self._buffer[8 : 8 + length])
            del self._buffer[: 8 + length]
            flags = second >> 24
            if first & 0x80000000:
                frames.append(Frame(True, first & 0xFFFF, flags, payload))
            else:
                frames.append(Frame(False, 0, flags, payload, first & 0x7FFFFFFF))
        return frames


class Headers:
    """The two header-compression contexts of one connection."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self._deflate = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, DICTIONARY)

    def read(self, block: bytes) -> dict[str, str]:
        raw = self._inflate.decompress(block)
        (count,), at, headers = struct.unpack_from(">I", raw), 4, {}
        for _ in range(count):
            (size,) = struct.unpack_from(">I", raw, at)
            name = raw[at + 4 : at + 4 + size].decode("latin-1")
            at += 4 + size
            (size,) = struct.unpack_from(">I", raw, at)
            headers[name.lower()] = raw[at + 4 : at + 4 + size].decode("latin-1")
            at += 4 + size
        return headers

    def write(self, headers: dict[str, str]) -> bytes:
        block = struct.pack(">I", len(headers))
        for name, value in headers.items():
            block += struct.pack(">I", len(name)) + name.encode() + struct.pack(">I", len(value)) + value.encode()
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)


def syn_stream_id(frame: Frame) -> tuple[int, bytes]:
    """The stream id of a SYN_STREAM and its (compressed) header block."""
    (stream_id,) = struct.unpack_from(">I", frame.payload)
    return stream_id & 0x7FFFFFFF, frame.payload[10:]


def stream_of(frame: Frame) -> int:
    """The stream id a RST_STREAM, WINDOW_UPDATE or HEADERS frame names."""
    return int(struct.unpack_from(">I", frame.payload)[0] & 0x7FFFFFFF)


def _control(kind: int, flags: int, payload: bytes) -> bytes:
    return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload


def syn_reply(stream_id: int, header_block: bytes, fin: bool = False) -> bytes:
    return _control(SYN_REPLY, FLAG_FIN if fin else 0, struct.pack(">I", stream_id) + header_block)


def data(stream_id: int, payload: bytes, fin: bool = False) -> bytes:
    return struct.pack(">II", stream_id, ((FLAG_FIN if fin else 0) << 24) | len(payload)) + payload


def ping(payload: bytes) -> bytes:
    return _control(PING, 0, payload)


def rst_stream(stream_id: int, status: int = RST_CANCEL) -> bytes:
    return _control(RST_STREAM, 0, struct.pack(">II", stream_id, status))


def goaway(last_stream_id: int) -> bytes:
    return _control(GOAWAY, 0, struct.pack(">II", last_stream_id, 0))
