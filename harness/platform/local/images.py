"""The embedded cluster's container runtime: which images it can run, as which local processes.

In: a pod's container spec (image, command, args, env), the pod, its IP and the cluster's secrets.
Out: the argv and environment of the container's process, or ``None`` for an image this runtime does
not have (the kubelet then reports ``ErrImagePull``, as a cluster does for an image it cannot pull).

Known images (any registry and tag), the two targets of the repository's Dockerfile: ``kibench-service``
runs ``python -m harness.service`` (the reference service) and ``kibench-harness`` (also ``harness`` or
``kibench``) runs ``kibench`` (the harness's CLI; its ``args`` are the subcommand: ``kibench cluster run``'s
Job).  The environment is the machine's less what names a cluster (``volumes.container_env``).  ``command``
replaces the image's entrypoint as on a cluster; ``python`` / ``python3`` mean this interpreter and ``kibench``
this installation's CLI.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.platform.local.objects import Obj
from harness.platform.local.volumes import container_env

#: The harness image (``kibench`` itself; its entrypoint is the ``kibench`` command) under the names it may have.
HARNESS_IMAGES = ("kibench-harness", "harness", "kibench")
ENTRYPOINTS: dict[str, tuple[str, ...]] = {
    "kibench-service": ("python", "-m", "harness.service"),
    **{name: ("kibench",) for name in HARNESS_IMAGES},
}


def kibench_argv() -> list[str]:
    """This installation's ``kibench``: the console script beside the interpreter, else the CLI through it."""
    script = Path(sys.executable).with_name("kibench")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-c", "import sys; sys.argv[0] = 'kibench'; from harness.cli import main; main()"]


def image_name(image: str) -> str:
    """``ghcr.io/org/kibench-service:0.1@sha256:..`` -> ``kibench-service``."""
    repo = image.split("@", 1)[0]
    last = repo.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def argv_for(container: Obj) -> list[str] | None:
    entry = ENTRYPOINTS.get(image_name(str(container.get("image", ""))))
    if entry is None:
        return None
    argv = [*(container.get("command") or entry), *(container.get("args") or [])]
    if argv and argv[0] in ("python", "python3"):
        argv[0] = sys.executable
    elif argv and argv[0] == "kibench":
        argv[:1] = kibench_argv()
    return [str(a) for a in argv]


def _field(pod: Obj, path: str, ip: str) -> str:
    if path == "status.podIP":
        return ip
    node: Any = pod
    for part in path.split("."):
        node = (node or {}).get(part) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def environment(
    container: Obj,
    pod: Obj,
    ip: str,
    extra: dict[str, str],
    secret: Callable[[str, str], dict[str, Any] | None],
) -> dict[str, str]:
    """The process environment: the host's, the runtime's (``extra``), then the container's own ``env``."""
    env = {**container_env(dict(os.environ)), **extra}
    for var in container.get("env") or []:
        name = var.get("name")
        if not name:
            continue
        if "value" in var:
            env[name] = str(var.get("value") or "")
            continue
        source = var.get("valueFrom") or {}
        if "fieldRef" in source:
            env[name] = _field(pod, source["fieldRef"].get("fieldPath", ""), ip)
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = (secret(pod["metadata"].get("namespace") or "default", ref.get("name", "")) or {}).get("data") or {}
            if ref.get("key") in data:
                env[name] = base64.b64decode(data[ref["key"]]).decode()
    return env
