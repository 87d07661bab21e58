"""Fixtures for the embedded API server tests: a real uvicorn server on 127.0.0.1 in a thread, a kubeconfig for
it, the official ``kubernetes`` client built from that kubeconfig, and a ``kubectl`` runner.

``api`` starts a fresh ``ThreadedApiServer`` (its own ``Store``) per test; ``api.call(fn, ...)`` runs store calls
on the server's loop, where they must run.  Pod logs live at ``api.log_dir/<ns>_<pod>_<container>.log``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s_client
from kubernetes import config as k8s_config

from harness.platform.local.apiserver import Store, ThreadedApiServer

TOKEN = "test-token-7f3a"


@dataclass
class Api:
    server: ThreadedApiServer
    kubeconfig: Path
    log_dir: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def store(self) -> Store:
        return self.server.store

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        return self.server.call(fn, *args, **kwargs)

    def log_file(self, namespace: str, pod: str, container: str) -> Path:
        return self.log_dir / f"{namespace}_{pod}_{container}.log"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()

    def log_path(namespace: str, pod: str, container: str | None) -> str | None:
        return str(log_dir / f"{namespace}_{pod}_{container}.log")

    server = ThreadedApiServer(token=TOKEN, log_path=log_path, bookmark_interval_s=0.3).start()
    kubeconfig = tmp_path / "kubeconfig"
    server.write_kubeconfig(kubeconfig)
    try:
        yield Api(server, kubeconfig, log_dir)
    finally:
        server.stop()


@pytest.fixture
def k8s(api: Api) -> Iterator[k8s_client.ApiClient]:
    """An ApiClient of the official client, configured from the kubeconfig."""
    client = k8s_config.new_client_from_config(config_file=str(api.kubeconfig))
    try:
        yield client
    finally:
        client.close()


@dataclass
class Kubectl:
    api: Api
    cache_dir: Path

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        argv = ["kubectl", "--kubeconfig", str(self.api.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        env = {**os.environ, "KUBECONFIG": str(self.api.kubeconfig)}
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
        return proc

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        argv = ["kubectl", "--kubeconfig", str(self.api.kubeconfig), "--cache-dir", str(self.cache_dir), *args]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


@pytest.fixture
def kubectl(api: Api, tmp_path: Path) -> Kubectl:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not on PATH")
    return Kubectl(api, tmp_path / "kube-cache")
