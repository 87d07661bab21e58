"""Start and stop the load processes from the orchestrator (no Locust import on this side).

In: a ``LoadConfig``.  Out: running ``python -m harness.load`` processes: one ``local`` process, or
with ``workers > 1`` a Locust master plus N workers on a free loopback port (``placement: cluster``: the
master only, on the pod's IP; its workers are a Deployment in the cluster).  The JSON stdout lines of
the local process or the master are parsed on a reader thread: ``latest`` progress, ``started`` and a
callback per line.  ``stop`` sends SIGTERM to every process at once (each closes its Parquet part),
then SIGKILL to any still alive after the grace period.

A ``Spare`` is a local load process started ahead of its run (``spare_process``, while the run deploys): it
imports Locust and the rest (about a second and a half) and waits on stdin; ``LoadProcess(..., spare=)``
hands it its config file's path instead of starting a process, so the load begins that much sooner.

Each process's config goes to ``<out_dir>/logs/loadconfig-<name>.json`` (argv has a size limit a long
trace would pass); its stderr goes to the log path given (``load.log``) or ``load-<worker>.log``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from harness.load.config import LoadConfig
from harness.procs import free_port, preexec, python_argv, record_process, signals_deferred, stop
from harness.scenario import LoadSpec


class Spare:
    """A ``python -m harness.load --await-config-file`` process, imports done, waiting for its config file."""

    def __init__(self, log_path: str) -> None:
        log_dir = os.path.dirname(log_path) or "."
        os.makedirs(log_dir, exist_ok=True)
        argv = python_argv("harness.load", "--await-config-file", "--role", "local")
        with signals_deferred(), open(log_path, "ab") as err:
            self.proc: subprocess.Popen[str] | None = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True,
                preexec_fn=preexec, start_new_session=True,
            )  # fmt: skip
            record_process(log_dir, self.proc.pid, "load-local")

    def take(self, config_path: str) -> subprocess.Popen[str] | None:
        """The process, told its config file; None when it has died (the caller starts one)."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None or proc.stdin is None:
            return None
        try:
            proc.stdin.write(config_path + "\n")
            proc.stdin.close()
        except OSError:  # it died meanwhile
            stop(proc, grace_s=1.0)
            return None
        return proc

    def stop(self) -> None:
        """Stop it if it was never taken (its stdin closes: it exits at once); idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()  # type: ignore[union-attr]
            stop(proc, grace_s=2.0)


def spare_process(spec: LoadSpec, log_path: str) -> Spare | None:
    """A ``Spare`` for a load that runs as one local process; None for one that does not (Locust workers)."""
    return Spare(log_path) if spec.workers <= 1 else None


class LoadProcess:
    """The load processes of one run: a single one, or a master and its workers."""

    def __init__(
        self,
        config: LoadConfig,
        log_path: str,
        on_line: Callable[[dict[str, Any]], None],
        spare: Spare | None = None,
    ) -> None:
        self.config = config
        self.spare = spare
        self.log_path = log_path
        self.on_line = on_line
        self.proc: subprocess.Popen[str] | None = None
        self.workers: list[subprocess.Popen[str]] = []
        self.latest: dict[str, Any] = {}
        self.started = threading.Event()
        self._reader: threading.Thread | None = None

    @property
    def processes(self) -> list[subprocess.Popen[str]]:
        return ([self.proc] if self.proc is not None else []) + self.workers

    def start(self) -> None:
        """Start every process (a signal meanwhile is deferred until all are started and kept)."""
        with signals_deferred():
            self._start()

    def _start(self) -> None:
        log_dir = os.path.dirname(self.log_path) or "."
        os.makedirs(log_dir, exist_ok=True)
        cfg = self.config
        if cfg.distributed:
            cfg = replace(cfg, master_port=cfg.master_port or free_port())
            self.proc = self._spawn(cfg.for_process("master"), "master", self.log_path, log_dir)
            for i in range(cfg.workers if cfg.placement == "local" else 0):
                worker_cfg = cfg.for_process("worker", i)
                log = os.path.join(log_dir, f"load-{worker_cfg.worker}.log")
                self.workers.append(self._spawn(worker_cfg, "worker", log, log_dir))
        else:
            self.proc = self._spawn(cfg, "local", self.log_path, log_dir, self.spare)
        self._reader = threading.Thread(target=self._read, name="load-reader", daemon=True)
        self._reader.start()

    def _spawn(
        self, cfg: LoadConfig, role: str, log_path: str, log_dir: str, spare: Spare | None = None
    ) -> subprocess.Popen[str]:
        config_path = os.path.join(log_dir, f"loadconfig-{cfg.worker}.json")
        with open(config_path, "w", encoding="utf-8") as fh:
            fh.write(cfg.to_json())
        taken = spare.take(config_path) if spare is not None else None
        if taken is not None:
            return taken
        argv = python_argv("harness.load", "--config-file", config_path, "--role", role)
        stdout = subprocess.PIPE if role != "worker" else subprocess.DEVNULL
        with open(log_path, "ab") as err:
            proc = subprocess.Popen(
                argv, stdout=stdout, stderr=err, text=True, preexec_fn=preexec, start_new_session=True
            )
        record_process(log_dir, proc.pid, f"load-{role}")
        return proc

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            if msg.get("event") == "progress":
                self.latest = msg
            if msg.get("event") == "load_start":
                self.started.set()
            self.on_line(msg)

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout_s: float) -> int | None:
        """Wait for the local process or master (workers follow it); its exit code, None on timeout."""
        if self.proc is None:
            return None
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        for worker in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=timeout_s)
        if self._reader is not None:
            self._reader.join(timeout=2)
        return code

    def stop(self) -> None:
        """SIGTERM to every process at once, SIGKILL after 10 s; idempotent."""
        for proc in self.processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        for proc in self.workers + ([self.proc] if self.proc is not None else []):
            stop(proc, grace_s=10.0)
        if self._reader is not None:
            self._reader.join(timeout=2)
