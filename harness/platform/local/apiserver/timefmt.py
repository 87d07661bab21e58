"""Timestamps as Kubernetes writes and prints them.

In: seconds since the epoch, or RFC 3339 strings from objects.  Out: ``rfc3339`` (``2025-01-02T03:04:05Z``,
metadata timestamps), ``rfc3339_micro`` (``…05.123456Z``, ``eventTime``), ``parse_rfc3339`` (None when absent or
unreadable) and ``human_duration`` (kubectl's AGE column: ``45s``, ``3m20s``, ``5h``, ``12d``).
"""

from __future__ import annotations

import time
from datetime import datetime


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def rfc3339_micro(t: float) -> str:
    whole = int(t)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{int((t - whole) * 1e6):06d}Z"


def parse_rfc3339(text: object) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """Go's ``duration.HumanDuration``, which kube-apiserver uses for AGE cells."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if days == 0 else f"{hours // 24 // 365}y{days}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: object, now: float) -> str:
    """The AGE / LAST SEEN cell for an RFC 3339 timestamp; ``<unknown>`` when absent."""
    t = parse_rfc3339(timestamp)
    return "<unknown>" if t is None else human_duration(now - t)
