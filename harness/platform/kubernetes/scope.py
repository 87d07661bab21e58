"""What makes an object this run's: its labels, and the name of the run's own namespace.

In: a run id (``<date>-<time>-<scenario>-<4 hex>``, up to 85 characters).  Out:

- ``run_label(run_id)``: the value of the label ``kibench.io/run-id`` (a valid label value, at most 63
  characters: a long scenario name is shortened in the middle, the date, time and random suffix stay);
- ``run_namespace(run_id)``: ``kibench-<run-id>`` as a DNS-1123 label (lowercase, at most 63 characters);
- ``stamp(manifest, label)``: a copy of the manifest carrying ``kibench.io/run-id`` and
  ``app.kubernetes.io/managed-by=kibench`` on the object and, for a Deployment, on its pod template (so its
  ReplicaSets and pods carry them too);
- ``owned(obj, label)``: whether an object (as the API returns it) carries this run's label.

Every object kibench creates on a cluster is stamped (``guard.Guard.create``); nothing without the label is
ever changed or deleted.
"""

from __future__ import annotations

import copy
import re
from typing import Any

RUN_LABEL = "kibench.io/run-id"
MANAGED_LABEL = "app.kubernetes.io/managed-by"
MANAGER = "kibench"
NAMESPACE_PREFIX = "kibench-"
MAX_LABEL = 63

Obj = dict[str, Any]
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def _shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters in the middle, keeping its last ``-`` part (the random suffix)."""
    if len(text) <= limit:
        return text
    head, sep, tail = text.rpartition("-")
    if not sep or len(tail) + 2 > limit:
        return text[:limit]
    keep = limit - len(tail) - 1
    return f"{head[:keep].rstrip('-_.')}-{tail}"


def run_label(run_id: str) -> str:
    """The ``kibench.io/run-id`` label value for a run (the run id itself when it fits)."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", run_id).strip("-_.")
    value = _shorten(value, MAX_LABEL)
    if not _LABEL_VALUE.match(value):  # cannot happen for run ids kibench makes; keeps the label valid anyway
        value = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value) or "run"
    return value


def run_namespace(run_id: str) -> str:
    """``kibench-<run-id>`` as a namespace name (DNS-1123 label)."""
    body = re.sub(r"[^a-z0-9-]+", "-", run_id.lower()).strip("-")
    body = re.sub(r"-{2,}", "-", body)
    return NAMESPACE_PREFIX + (_shorten(body, MAX_LABEL - len(NAMESPACE_PREFIX)).strip("-") or "run")


def run_labels(label: str) -> dict[str, str]:
    """The labels every object of the run carries."""
    return {RUN_LABEL: label, MANAGED_LABEL: MANAGER}


def stamp(manifest: Obj, label: str) -> Obj:
    """A copy of ``manifest`` with the run's labels (and its pod template's, for a Deployment)."""
    out = copy.deepcopy(manifest)
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**(meta.get("labels") or {}), **run_labels(label)}
    template = (out.get("spec") or {}).get("template")
    if out.get("kind") in ("Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job") and template is not None:
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), **run_labels(label)}
    return out


def owned(obj: Obj | None, label: str) -> bool:
    """Whether ``obj`` carries this run's label."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(RUN_LABEL) == label


def selector(label: str) -> str:
    """A label selector for everything of the run."""
    return f"{RUN_LABEL}={label}"
