"""core/v1 Events as Kubernetes' controllers and kubelet record them (Scheduled, Started, Killing, ...).

In: the object an event is about, a reason, a message, Normal or Warning, and the reporting component.
Out: an Event object in the API store (``kubectl describe`` and ``kubectl get events`` list it; the
platform driver reads it).  The store keeps the newest ``MAX_EVENTS`` events, as the API server's
event TTL would.
"""

from __future__ import annotations

import secrets
from collections import deque
from typing import Any

from harness.platform.local.objects import EVENTS, Obj, rfc3339

MAX_EVENTS = 5000


class EventRecorder:
    """Writes one Event per occurrence (no aggregation: ``count`` is always 1)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._kept: deque[tuple[str, str]] = deque()

    def record(
        self,
        obj: Obj,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "kubelet",
        host: str | None = None,
    ) -> None:
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        now = rfc3339()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{meta['name']}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": obj.get("apiVersion", "v1"),
                "kind": obj.get("kind", ""),
                "name": meta["name"],
                "namespace": meta.get("namespace") or "",
                "uid": meta.get("uid", ""),
            },
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": component, **({"host": host} if host else {})},
            "reportingComponent": component,
            "reportingInstance": host or component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            self.store.create(EVENTS, namespace, event)
        except Exception:  # a namespace being deleted: the event has nowhere to go  # noqa: BLE001
            return
        self._kept.append((namespace, event["metadata"]["name"]))
        while len(self._kept) > MAX_EVENTS:
            ns, name = self._kept.popleft()
            self.store.remove(EVENTS, ns, name)
