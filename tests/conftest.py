"""Shared pytest fixtures, the loopback-only rule for load, and where `cluster` tests find their cluster."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    # The tests' load and fault traffic stays on loopback: kibench refuses any other address (route.py).
    os.environ.setdefault("KIBENCH_LOOPBACK_ONLY", "1")


@pytest.fixture
def kibench() -> list[str]:
    """argv prefix that runs the kibench CLI with this interpreter."""
    return [sys.executable, "-c", "from harness.cli import main; main()"]


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write a scenario text to a file and return its path."""

    def _write(text: str, name: str = "scenario.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
