"""One user's HTTP/1.1 connection to the target: geventhttpclient's ``HTTPClient``, without Locust's session layers.

In: the target URL, endpoint, timeouts (a ``LoadConfig``) and the request headers.  Out: ``post`` (a whole
answer) and ``stream`` (an answer handed on piece by piece as it arrives), each returning an ``Exchange``: the time
the request took (perf counter, ms), the status, the exception that made it a failure (None when it
succeeded), the bytes received, the answer's headers and, when asked for, its body.  Imported only inside
the load process (gevent).

kibench's own users (predict, completions) send through this; a scenario's locustfile keeps Locust's own
clients.  The layers skipped, Locust's ``FastHttpSession`` and geventhttpclient's ``UserAgent`` (URL parsing,
cookie jar, redirect and retry loops, response wrappers, event firing), took half the CPU time of a request
on loopback.  What they did that matters is kept:

- one keep-alive connection per user, as ``FastHttpUser``; a request whose reused connection turns out to
  be closed by the server is sent again on a new one (``HTTPClient``'s own retry, as before);
- a status outside 2xx is a failure, recorded as Locust records it (``LocustBadStatusCode: URL ...: code=503``);
  connection errors and timeouts are failures with their own exception (``TimeoutError: timed out``);
- ``Accept-Encoding: gzip, deflate, br`` as Locust sends it, and an encoded body is decoded (its decoded
  length is the bytes received, as in Locust);
- TLS without certificate verification (``FastHttpUser``'s default ``insecure = True``).

``connect`` opens the connection ahead of the first request: the open model's users do it while they are
spawned, so that the load does not start with a burst of connection set-ups (DNS lookups on gevent's thread
pool, TCP and TLS handshakes) that would hold the event loop and delay the first arrivals' sends.

Not kept: redirects are not followed (a 3xx answer is a failure: point ``target.url`` at the final address),
and cookies are not stored (each request of an inference client stands alone).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import brotli
import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPSocketPoolResponse, HTTPSocketResponse
from geventhttpclient.url import URL
from locust.contrib.fasthttp import LocustBadStatusCode

from harness.load.config import LoadConfig

FAILURES: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, broken pipe, TLS errors, socket timeouts
    gevent.Timeout,
    HTTPConnectionClosed,
    HTTPParseError,
    zlib.error,
    brotli.error,
)
"""What makes a request a failure rather than a bug (Locust's FastHttpSession catches the same)."""

ACCEPT_ENCODING = "gzip, deflate, br"
CONNECT_TIMEOUT_MAX_S = 5.0
PRECONNECT_TIMEOUT_S = 2.0


class Exchange:
    """One request's outcome, as the recording needs it."""

    __slots__ = ("response_ms", "status", "error", "bytes_in", "headers", "content")

    def __init__(
        self,
        response_ms: float,
        status: int,
        error: BaseException | None,
        bytes_in: int = 0,
        headers: Any = None,
        content: bytes = b"",
    ) -> None:
        self.response_ms = response_ms
        self.status = status
        self.error = error
        self.bytes_in = bytes_in
        self.headers = headers  # anything with .get(name) (geventhttpclient's Headers), or None
        self.content = content


def _decoded(body: bytes, encoding: str) -> bytes:
    """The body of an answer with ``Content-Encoding: encoding`` (gzip, deflate, br; else as it is)."""
    encoding = encoding.lower()
    if encoding == "gzip":
        return zlib.decompress(body, 16 + zlib.MAX_WBITS)
    if encoding == "br":
        return bytes(brotli.decompress(body))
    if encoding == "deflate":
        try:
            return zlib.decompress(body, -zlib.MAX_WBITS)
        except zlib.error:
            return zlib.decompress(body)
    return body


def _status_error(url: str, status: int) -> BaseException | None:
    return None if 200 <= status < 300 else LocustBadStatusCode(url, code=status)


class TargetClient:
    """A user's client: POSTs to ``target_url + endpoint`` over one keep-alive connection."""

    def __init__(self, cfg: LoadConfig, headers: dict[str, str]) -> None:
        self.url = cfg.target_url.rstrip("/") + cfg.endpoint  # as Locust joins them, without a "//"
        url = URL(self.url)
        self.uri = url.quoted_uri
        self.http = HTTPClient.from_url(
            url,
            concurrency=1,
            network_timeout=cfg.timeout_s,
            connection_timeout=min(cfg.timeout_s, CONNECT_TIMEOUT_MAX_S),
            insecure=True,
        )
        lower = {name.lower() for name in headers}
        self.headers = headers if "accept-encoding" in lower else {**headers, "Accept-Encoding": ACCEPT_ENCODING}
        self.stream_headers = {**headers, "Accept": "text/event-stream", "Accept-Encoding": "identity"}

    def connect(self) -> bool:
        """Open the keep-alive connection now (TCP, and TLS for https), before any request; False when
        the target did not accept it within ``PRECONNECT_TIMEOUT_S`` (the first request connects then)."""
        pool = self.http._connection_pool  # geventhttpclient has no public call for this
        with gevent.Timeout(PRECONNECT_TIMEOUT_S, False):
            try:
                pool.return_socket(pool.get_socket())
                return True
            except FAILURES:
                return False
        return False

    def post(self, body: str) -> Exchange:
        """Send ``body``, read the whole answer."""
        start = time.perf_counter()
        try:
            resp = self.http.request("POST", self.uri, body=body, headers=self.headers)
            content = resp.read()
            encoding = resp.get("content-encoding")
            if encoding:
                content = _decoded(content, str(encoding))
        except FAILURES as exc:
            return Exchange((time.perf_counter() - start) * 1000.0, 0, exc)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        status = resp.status_code
        return Exchange(elapsed_ms, status, _status_error(self.url, status), len(content), resp, content)

    def stream(self, body: str, on_chunk: Callable[[bytes], None]) -> Exchange:
        """Send ``body``; feed each piece of a 2xx answer to ``on_chunk`` as the socket delivers it."""
        start = time.perf_counter()
        try:
            resp = self.http.request("POST", self.uri, body=body, headers=self.stream_headers)
        except FAILURES as exc:
            return Exchange((time.perf_counter() - start) * 1000.0, 0, exc)
        status = resp.status_code
        if not 200 <= status < 300:
            return self._rest(resp, start, _status_error(self.url, status))
        received, error = 0, None
        try:
            for chunk in body_chunks(resp):
                received += len(chunk)
                on_chunk(chunk)
        except FAILURES as exc:  # a broken stream is a failed request
            error = exc
        return Exchange((time.perf_counter() - start) * 1000.0, status, error, received, resp)

    def _rest(self, resp: HTTPSocketPoolResponse, start: float, error: BaseException | None) -> Exchange:
        """A non-2xx answer to a stream request: read it whole (the connection stays usable)."""
        try:
            received = len(resp.read())
        except FAILURES as exc:
            error, received = exc, 0
        return Exchange((time.perf_counter() - start) * 1000.0, resp.status_code, error, received, resp)


def body_chunks(resp: HTTPSocketResponse) -> Iterator[bytes]:
    """The body of an answer as the socket delivers it, without waiting for a line end or a block size.

    geventhttpclient reads a body only by length or up to a separator (``readline``), and server-sent
    events may end their lines with a lone CR, so an event would wait for the next LF; this takes what
    the response's parser has buffered (``_body_buffer``, private) and otherwise receives from its socket
    (``_sock``) as ``readline`` does."""
    buffer = resp._body_buffer
    while True:
        if buffer:
            chunk = bytes(buffer)
            del buffer[:]
            yield chunk
        elif resp.message_complete:
            return
        elif resp._sock is None:
            raise HTTPConnectionClosed("connection closed.")
        else:
            try:
                resp.feed(resp._sock.recv(resp.block_size))
            except BaseException:
                resp.release()
                raise
