"""A test-side handle on a local platform daemon's JSON API (shared by tests/platform and tests/chaos)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest


@dataclass
class DaemonApi:
    """The daemon's API and balancer URLs, with bounded polling helpers."""

    api_url: str
    balancer_url: str
    http: httpx.Client

    def state(self) -> dict[str, Any]:
        return dict(self.http.get(f"{self.api_url}/state").json())

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        events = self.http.get(f"{self.api_url}/events?since=0").json()["events"]
        return [e for e in events if kind is None or e["kind"] == kind]

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return self.http.post(f"{self.api_url}{path}", json=body or {})

    def wait_for(self, predicate: Callable[[], Any], timeout_s: float = 40.0, what: str = "condition") -> Any:
        """Poll until ``predicate()`` is truthy; fail the test with ``what`` and the state otherwise."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        pytest.fail(f"timed out after {timeout_s:g}s waiting for {what}; state: {json.dumps(self.state())[:2000]}")
