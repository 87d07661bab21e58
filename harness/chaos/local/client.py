"""How provider functions reach the local platform: its JSON API and the replicas' admin API.

In: the experiment's ``configuration`` (``kibench_api_url``; else the ``KIBENCH_API_URL`` environment
variable).  Out: ``LocalApi`` (``state``, ``post``, ``delete``, ``events``) and ``admin_post`` for the
reference service's bearer-token admin API (``/admin/...`` on a replica's port, token from
``GET /state``).  Every failure is ``ActivityFailed`` with a message that says what to check; the
API must be on loopback (the local platform never listens anywhere else).
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlparse

import httpx
from chaoslib.exceptions import ActivityFailed

API_URL_KEY = "kibench_api_url"
API_URL_ENV = "KIBENCH_API_URL"
_LOOPBACK = {"127.0.0.1", "localhost"}


def api_url(configuration: dict[str, Any] | None) -> str:
    """The daemon API's base URL from the configuration or the environment; loopback only."""
    url = str((configuration or {}).get(API_URL_KEY) or os.environ.get(API_URL_ENV) or "").rstrip("/")
    if not url:
        raise ActivityFailed(
            f"no local platform address: set configuration {API_URL_KEY!r} (chaos run --var "
            f"{API_URL_KEY}=URL) or the {API_URL_ENV} environment variable to the 'api' URL that "
            "`python -m harness.platform.local` prints"
        )
    parsed = urlparse(url)
    if parsed.scheme != "http" or parsed.hostname not in _LOOPBACK:
        raise ActivityFailed(f"{API_URL_KEY}={url!r}: the local platform API is http://127.0.0.1:PORT; refusing it")
    return url


class LocalApi:
    """A short-lived client of one local platform daemon."""

    def __init__(self, base_url: str, timeout_s: float = 5.0) -> None:
        self.base_url = base_url
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = f"{self.base_url}{path}"
        try:
            response = httpx.request(method, url, json=body, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise ActivityFailed(
                f"{method} {url} failed ({type(exc).__name__}: {exc}); is the local platform running there?"
            ) from exc
        if response.status_code == 404 and "error" not in _json_or_empty(response):
            raise ActivityFailed(f"{method} {path}: this local platform has no such route (docs/local-api.md)")
        if response.status_code == 405:
            raise ActivityFailed(f"{method} {path}: this local platform does not support it (405)")
        data = _json_or_empty(response)
        if response.status_code >= 400:
            raise ActivityFailed(f"{method} {path}: {response.status_code} {data.get('error') or response.text}")
        return data

    def state(self) -> dict[str, Any]:
        return dict(self._request("GET", "/state"))

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        return dict(self._request("POST", path, body or {}))

    def delete(self, path: str) -> dict[str, Any]:
        return dict(self._request("DELETE", path))

    def events(self, since: int = 0) -> tuple[list[dict[str, Any]], int]:
        data = self._request("GET", f"/events?since={since}")
        return list(data.get("events", [])), int(data.get("next", since))


def connect(configuration: dict[str, Any] | None) -> LocalApi:
    return LocalApi(api_url(configuration))


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {"value": data}


def admin_token(state: dict[str, Any]) -> str:
    token = state.get("admin_token")
    if not token:
        raise ActivityFailed(
            "GET /state has no admin_token: this local platform runs replicas without the admin API "
            "(needed by hang_pods, inject_latency, inject_errors and reset_faults)"
        )
    return str(token)


def admin_post(
    pod: dict[str, Any],
    token: str,
    route: str,
    body: dict[str, Any],
    timeout_s: float = 3.0,
    unreachable_ok: bool = False,
) -> Any:
    """POST ``/admin/<route>`` on one replica; its JSON answer, or None when it did not answer in time
    (a hang that took effect first) or, with ``unreachable_ok``, could not be reached at all."""
    port = pod.get("port")
    if not port:
        raise ActivityFailed(f"pod {pod.get('name')!r} has no port yet (phase {pod.get('phase')}); pick a running pod")
    url = f"http://127.0.0.1:{int(port)}/admin/{route}"
    try:
        response = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=timeout_s)
    except httpx.TimeoutException:
        return None  # e.g. a hang that took effect before the replica answered
    except httpx.HTTPError as exc:
        if unreachable_ok:
            return None
        raise ActivityFailed(f"POST {url} ({pod.get('name')}) failed: {type(exc).__name__}: {exc}") from exc
    if response.status_code == 404:
        raise ActivityFailed(f"pod {pod.get('name')!r} has no /admin/{route}; is the service's admin API enabled?")
    if response.status_code >= 400:
        raise ActivityFailed(f"POST /admin/{route} on {pod.get('name')!r}: {response.status_code} {response.text}")
    return _json_or_empty(response)
