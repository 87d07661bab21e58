"""The shipped device profiles of the emulated backend, as data: one ``<name>.yaml`` per profile.

In: a profile name.  Out: the shipped names (``names()``), a profile's file (``path(name)``, None when there is
no such profile) and its parsed YAML (``read(name)``, a mapping the caller validates).  Each file's comment says
where its numbers come from (docs/service.md).

A leaf: it imports nothing of kibench, so the scenario layer (which checks a profile's name) and the service
(which builds the profile) both read the files through it, and neither reaches into the other's folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

PROFILE_DIR = Path(__file__).parent


def names() -> list[str]:
    """Names of the shipped profiles, sorted."""
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml"))


def path(name: str) -> Path | None:
    """The file of the shipped profile ``name``; None for a name that is not one (a path is never one)."""
    file = PROFILE_DIR / f"{name}.yaml"
    return None if "/" in name or not file.is_file() else file


def read(name: str) -> Any:
    """The parsed YAML of the shipped profile ``name``; ``KeyError`` when there is none, ``yaml.YAMLError``
    when its text is not YAML."""
    file = path(name)
    if file is None:
        raise KeyError(name)
    return yaml.safe_load(file.read_text(encoding="utf-8"))
