"""A real Prometheus (Debian's ``prometheus`` package) scraping the embedded cluster's replicas over loopback.

Prometheus finds the pods of the clusters whose kubeconfigs it is given as its Kubernetes pod discovery would (each
Running pod's ``podIP:containerPort``, labelled ``namespace`` and ``pod``, as dcgm-exporter labels its series),
through a ``file_sd`` targets file this helper rewrites from the clusters' pods every half second: Debian builds
Prometheus without its Kubernetes discovery.
``start_prometheus`` returns None when the binary is missing (the tests skip, saying so).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from kubernetes import client, config

from harness.procs import poll_until, stop

CONFIG = """global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
- job_name: pods
  file_sd_configs:
  - files: [{targets}]
"""


def binary() -> str | None:
    return shutil.which("prometheus") or ("/usr/bin/prometheus" if os.access("/usr/bin/prometheus", os.X_OK) else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Prometheus:
    url: str
    proc: subprocess.Popen[bytes]
    targets: Path
    kubeconfigs: list[Path]
    _stop: threading.Event = field(default_factory=threading.Event)

    def follow_pods(self) -> None:
        """Rewrite the targets file from the clusters' Running pods until ``close()``."""
        apis = [config.new_client_from_config(config_file=str(k)) for k in self.kubeconfigs]
        last = ""
        while not self._stop.is_set():
            groups, pods = [], []
            for api in apis:
                with contextlib.suppress(Exception):  # the cluster is busy: the next round tries again
                    pods += client.CoreV1Api(api).list_pod_for_all_namespaces(_request_timeout=5).items
            for pod in pods:
                ports = [p.container_port for c in pod.spec.containers for p in c.ports or []]
                if pod.status.pod_ip and ports and pod.status.phase == "Running":
                    labels = {"namespace": pod.metadata.namespace, "pod": pod.metadata.name}
                    groups.append({"targets": [f"{pod.status.pod_ip}:{ports[0]}"], "labels": labels})
            text = json.dumps(sorted(groups, key=lambda g: g["labels"]["pod"]))
            if text != last:
                tmp = self.targets.with_suffix(".tmp")
                tmp.write_text(text)
                tmp.replace(self.targets)
                last = text
            self._stop.wait(0.5)
        for api in apis:
            api.close()

    def close(self) -> None:
        self._stop.set()
        stop(self.proc, grace_s=5)


def start_prometheus(folder: Path, kubeconfigs: list[Path]) -> Prometheus | None:
    exe = binary()
    if exe is None:
        return None
    targets = folder / "targets.json"
    targets.write_text("[]")
    (folder / "prometheus.yml").write_text(CONFIG.format(targets=targets))
    port = free_port()
    argv = [exe, f"--config.file={folder / 'prometheus.yml'}", f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}"]  # fmt: skip
    with open(folder / "prometheus.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    prom = Prometheus(f"http://127.0.0.1:{port}", proc, targets, kubeconfigs)

    def ready() -> bool:
        try:
            return httpx.get(f"{prom.url}/-/ready", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    if not poll_until(ready, 30.0, 0.2):
        prom.close()
        raise RuntimeError(f"Prometheus did not start; see {folder / 'prometheus.log'}")
    threading.Thread(target=prom.follow_pods, daemon=True).start()
    return prom
