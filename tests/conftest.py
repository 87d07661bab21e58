"""Shared pytest fixtures and the `cluster` marker's skip rule."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("KUBECONFIG"):
        return
    skip = pytest.mark.skip(reason="needs a Kubernetes cluster: set KUBECONFIG to run `cluster` tests")
    for item in items:
        if "cluster" in item.keywords:
            item.add_marker(skip)


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
