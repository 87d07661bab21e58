"""A minimal informer: list, then watch from the list's resourceVersion, keep a cache, report every change.

In: a list function of the official ``kubernetes`` client (e.g. ``CoreV1Api.list_namespaced_pod``) with
its arguments, and a callback.  Out: ``cache`` (name -> the object as a plain dict, as the API server
sent it) kept current on a daemon thread, and ``on_change(type, old, new)`` for every ADDED, MODIFIED
and DELETED (``old`` is None for a new object, ``new`` is None for a deleted one).  A watch that
expires (410 Gone, as an HTTP status or as an ERROR event in the stream, which is how kube-apiserver
says it) relists and reports the difference, as client-go's reflector does.  The informer reads the watch's
lines itself: the client's ``watch.Watch`` raises ``KeyError`` on an ERROR event when it is not deserialising,
and only sees its ``stop()`` at the next event.  ``stop()`` ends the thread at once: it shuts the open watch's
socket down (otherwise every run's teardown waited up to a watch's ``WATCH_TIMEOUT_S`` for it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

log = logging.getLogger("kibench.kubernetes")
WATCH_TIMEOUT_S = 2
Obj = dict[str, Any]
OnChange = Callable[[str, Obj | None, Obj | None], None]


class Informer:
    """Follows one kind of object through the API (never by polling)."""

    def __init__(self, name: str, list_fn: Callable[..., Any], on_change: OnChange, **kwargs: Any) -> None:
        self.name = name
        self.list_fn = list_fn
        self.kwargs = kwargs
        self.on_change = on_change
        self.cache: dict[str, Obj] = {}
        self.lock = threading.Lock()
        self.synced = threading.Event()
        self.error: str | None = None
        self.failures = 0
        self._stop = threading.Event()
        self.resource_version: str | None = None  # the last one seen (list, event or bookmark)
        self._response: Any = None  # the open watch's streaming urllib3 response, shut down by stop()
        self._thread = threading.Thread(target=self._run, name=f"informer-{name}", daemon=True)

    def start(self) -> Informer:
        self._thread.start()
        return self

    def stop(self, wait: bool = True) -> None:
        """End the thread (its open watch's socket is shut down); with ``wait``, join it."""
        self._stop.set()
        _shut_down(self._response)
        if wait and self._thread.is_alive():
            self._thread.join(timeout=WATCH_TIMEOUT_S + 3)

    def items(self) -> list[Obj]:
        with self.lock:
            return list(self.cache.values())

    def _relist(self) -> str:
        response = self.list_fn(**self.kwargs, _preload_content=False, _request_timeout=10)
        data = json.loads(response.data)
        fresh = {o["metadata"]["name"]: o for o in data.get("items") or []}
        with self.lock:
            old = dict(self.cache)
            self.cache = dict(fresh)
        for name, obj in fresh.items():
            before = old.get(name)
            if before is None or before["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit("ADDED" if before is None else "MODIFIED", before, obj)
        for name, obj in old.items():
            if name not in fresh:
                self._emit("DELETED", obj, None)
        self.synced.set()
        return str(data["metadata"]["resourceVersion"])

    def _emit(self, kind: str, old: Obj | None, new: Obj | None) -> None:
        try:
            self.on_change(kind, old, new)
        except Exception:  # a bug in a handler must not stop the informer; logged with its traceback
            log.exception("informer %s: handler failed", self.name)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if self.resource_version is None:
                    self.resource_version = self._relist()
                self._watch(self.resource_version)
                self.failures = 0
            except ApiException as exc:
                if exc.status == 410:
                    self.resource_version = None  # expired: relist
                    continue
                self._failed(f"{exc.status} {exc.reason}")
            except Exception as exc:  # connection refused, reset, timeout: try again from the last version seen
                self._failed(f"{type(exc).__name__}: {exc}")

    def _watch(self, rv: str) -> None:
        """One watch from ``rv``, until the server ends it or ``stop()``; ``resource_version`` follows it."""
        response = self.list_fn(
            **self.kwargs,
            watch=True,
            resource_version=rv,
            timeout_seconds=WATCH_TIMEOUT_S,
            allow_watch_bookmarks=True,
            _preload_content=False,
            _request_timeout=WATCH_TIMEOUT_S + 10,
        )
        self._response = response
        try:
            if self._stop.is_set():  # stop() came while the request was on its way
                return
            for line in iter_resp_lines(response):
                if self._stop.is_set():
                    break
                self.resource_version = self._apply(json.loads(line)) or self.resource_version
        finally:
            self._response = None
            response.close()
            response.release_conn()

    def _failed(self, why: str) -> None:
        self.error = why
        self.failures += 1
        self._stop.wait(min(0.2 * self.failures, 2.0))

    def _apply(self, event: Obj) -> str | None:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise ApiException(status=410, reason="Gone")
            raise ApiException(status=obj.get("code", 500), reason=str(obj.get("message")))
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            return str(rv) if rv else None
        name = obj["metadata"]["name"]
        with self.lock:
            old = self.cache.get(name)
            if kind == "DELETED":
                self.cache.pop(name, None)
            else:
                self.cache[name] = obj
        self._emit(str(kind), old, None if kind == "DELETED" else obj)
        return str(rv) if rv else None


def _shut_down(response: Any) -> None:
    """Shut the socket under a streaming urllib3 response down: a read blocked on it returns at once."""
    sock = getattr(getattr(response, "connection", None), "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
