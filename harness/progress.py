"""Live progress of a run on the terminal.

In: the load process's latest progress line and the platform's last state.  Out: a rich live panel
(elapsed/total, current rate, errors, dropped, p95 of the last 10 s, Ready replicas) when stdout is a
terminal; a plain log line every ``plain_every_s`` otherwise (CI logs).
"""

from __future__ import annotations

import sys
import time
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from harness.model import PlatformState


class Progress:
    """Context manager that renders progress updates."""

    def __init__(self, console: Console, title: str, plain_every_s: float = 5.0) -> None:
        self.console = console
        self.title = title
        self.live: Live | None = None
        self.plain_every_s = plain_every_s
        self._last_plain = 0.0
        self.interactive = console.is_terminal and sys.stdout.isatty()

    def __enter__(self) -> Progress:
        if self.interactive:
            self.live = Live(self._render({}, None), console=self.console, refresh_per_second=4, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.live is not None:
            self.live.__exit__(*exc)
            self.live = None

    def update(self, latest: dict[str, Any], state: PlatformState | None) -> None:
        if self.live is not None:
            self.live.update(self._render(latest, state))
            return
        now = time.monotonic()
        if latest and now - self._last_plain >= self.plain_every_s:
            self._last_plain = now
            self.console.print(self._line(latest, state), highlight=False)

    @staticmethod
    def _fields(latest: dict[str, Any], state: PlatformState | None) -> dict[str, str]:
        p95 = latest.get("p95_10s_ms")
        return {
            "elapsed": f"{latest.get('elapsed_s', 0):.0f}/{latest.get('duration_s', 0):.0f}s",
            "rate": f"{latest.get('rate_rps', 0)}/{latest.get('requested_rps', 0):g} rps",
            "requests": str(latest.get("requests", 0)),
            "errors": str(latest.get("errors", 0)),
            "dropped": str(latest.get("dropped", 0)),
            "p95 (10s)": "–" if p95 is None else f"{p95:.1f} ms",
            "ready": "–" if state is None else f"{state.ready_replicas}/{state.desired_replicas}",
        }

    def _line(self, latest: dict[str, Any], state: PlatformState | None) -> str:
        return "  ".join(f"{k}={v}" for k, v in self._fields(latest, state).items())

    def _render(self, latest: dict[str, Any], state: PlatformState | None) -> Table:
        table = Table(title=self.title, show_header=True, header_style="bold")
        fields = self._fields(latest, state)
        for key in fields:
            table.add_column(key)
        table.add_row(*fields.values())
        return table
