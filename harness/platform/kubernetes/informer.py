"""A minimal informer: list, then watch from the list's resourceVersion, keep a cache, report every change.

In: a list function of the official ``kubernetes`` client (e.g. ``CoreV1Api.list_namespaced_pod``) with
its arguments, and a callback.  Out: ``cache`` (name -> the object as a plain dict, as the API server
sent it) kept current on a daemon thread, and ``on_change(type, old, new)`` for every ADDED, MODIFIED
and DELETED (``old`` is None for a new object, ``new`` is None for a deleted one).  A watch that
expires (410 Gone) relists and reports the difference, as client-go's reflector does.  ``stop()``
ends the thread within ``WATCH_TIMEOUT_S``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

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
        self._watch: watch.Watch | None = None
        self._thread = threading.Thread(target=self._run, name=f"informer-{name}", daemon=True)

    def start(self) -> Informer:
        self._thread.start()
        return self

    def stop(self, wait: bool = True) -> None:
        """Ask the thread to end; with ``wait``, join it (at most a watch's timeout)."""
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()
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
        rv: str | None = None
        while not self._stop.is_set():
            try:
                if rv is None:
                    rv = self._relist()
                self._watch = watch.Watch()
                stream = self._watch.stream(
                    self.list_fn,
                    **self.kwargs,
                    resource_version=rv,
                    timeout_seconds=WATCH_TIMEOUT_S,
                    allow_watch_bookmarks=True,
                    deserialize=False,
                    _request_timeout=WATCH_TIMEOUT_S + 10,
                )
                for event in stream:
                    if self._stop.is_set():
                        break
                    rv = self._apply(event) or rv
                self.failures = 0
            except ApiException as exc:
                if exc.status == 410:
                    rv = None  # expired: relist
                    continue
                self._failed(f"{exc.status} {exc.reason}")
            except Exception as exc:  # connection refused, reset, timeout: try again
                self._failed(f"{type(exc).__name__}: {exc}")

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
