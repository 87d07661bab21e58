"""Your own service: an endpoint that is already running stands in for the deployed platform.

In: the scenario's ``target`` section (URL, headers, bearer-token variable, probe flag) and the run's
clock origin.  Out: ``ExternalTarget``, an object with the ``harness.model.Platform`` interface whose
``deploy`` deploys nothing: it checks that the URL answers (any HTTP status counts: the endpoint may
want a path or a method the probe does not send) and returns it as the load's target.  It reports no
replicas and no events; scaling and fault injection raise ``PlatformError`` because they need a
platform that manages the endpoint (local or Kubernetes), which the README says.

The load itself is unchanged: the same open or closed model, workload and recording, with the
scenario's headers (and ``Authorization: Bearer $VAR``) added to every request.
"""

from __future__ import annotations

import os
import time

import httpx

from harness.errors import InputError, PlatformError
from harness.model import Deployment, Event, PlatformState
from harness.scenario import TargetSpec

PROBE_TIMEOUT_S = 5.0


class ExternalTarget:
    """A no-op platform for ``target.url``: the service is not ours to deploy, scale or break."""

    kind = "external"

    def __init__(self, spec: TargetSpec, t0_monotonic: float) -> None:
        self.spec = spec
        self.t0 = t0_monotonic

    def headers(self) -> dict[str, str]:
        """The scenario's headers plus the bearer token; InputError when its variable is unset."""
        headers = dict(self.spec.headers)
        name = self.spec.bearer_token_env
        if name:
            if name not in os.environ:
                raise InputError(f"target.bearer_token_env: environment variable {name} is not set; export it")
            headers["Authorization"] = f"Bearer {os.environ[name]}"
        return headers

    def deploy(self) -> Deployment:
        url = self.spec.url.rstrip("/")
        headers = self.headers()
        if self.spec.probe:
            try:
                response = httpx.get(url + "/", headers=headers, timeout=PROBE_TIMEOUT_S)
            except httpx.HTTPError as exc:
                raise PlatformError(
                    f"target.url: {url} does not answer ({type(exc).__name__}: {exc}); start the service, "
                    "fix the URL, or set target.probe: false"
                ) from exc
            status = response.status_code
        else:
            status = None
        return Deployment(url, self.kind, {"probe_status": status, "managed": False})

    def state(self) -> PlatformState:
        return PlatformState(t_s=time.monotonic() - self.t0, desired_replicas=0)

    def events(self, since: int) -> tuple[list[Event], int]:
        return [], since

    def kill_pod(self, name: str) -> None:
        raise PlatformError("the external target has no pods kibench manages; use platform: local or kubernetes")

    def scale(self, replicas: int) -> None:
        raise PlatformError("the external target is not scaled by kibench; use platform: local or kubernetes")

    def teardown(self) -> None:
        return None
