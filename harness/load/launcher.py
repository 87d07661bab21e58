"""Start and stop the load process from the orchestrator (no Locust import on this side).

In: a ``LoadConfig``.  Out: a running ``python -m harness.load`` process whose JSON stdout lines are
parsed on a reader thread: ``latest`` progress, ``load_start_s``/``load_end_s`` and a callback per line.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from harness.load.config import LoadConfig
from harness.procs import preexec, python_argv, stop


class LoadProcess:
    """One load process."""

    def __init__(self, config: LoadConfig, log_path: str, on_line: Callable[[dict[str, Any]], None]) -> None:
        self.config = config
        self.log_path = log_path
        self.on_line = on_line
        self.proc: subprocess.Popen[str] | None = None
        self.latest: dict[str, Any] = {}
        self.started = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self) -> None:
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        argv = python_argv("harness.load", "--config", self.config.to_json())
        with open(self.log_path, "ab") as err:
            self.proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=err, text=True, preexec_fn=preexec, start_new_session=True
            )
        self._reader = threading.Thread(target=self._read, name="load-reader", daemon=True)
        self._reader.start()

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
        if self.proc is None:
            return None
        try:
            code = self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None
        if self._reader is not None:
            self._reader.join(timeout=2)
        return code

    def stop(self) -> None:
        """SIGTERM (the process closes its Parquet part), SIGKILL after 10 s; idempotent."""
        if self.proc is not None:
            stop(self.proc, grace_s=10.0)
            if self._reader is not None:
                self._reader.join(timeout=2)
