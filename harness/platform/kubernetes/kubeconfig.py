"""Which cluster a ``platform.kind: kubernetes`` run talks to: the kubeconfig and its context, checked.

In: the scenario's ``platform.kubeconfig`` (a path, or None: ``$KUBECONFIG``, which may list several files
separated by ``:``, else ``~/.kube/config``, as kubectl and the ``kubernetes`` client find it) and
``platform.context`` (None: the kubeconfig's ``current-context``).  Out: a ``Cluster`` (the kubeconfig as
given to the client, the context, its server URL and user) read from the file alone, without a request.

Refusals (``ClusterRefused``, exit 2) name the fix: no kubeconfig file; a kubeconfig without the context
the scenario names (the contexts it has are listed); a kubeconfig with no current-context when the scenario
names none.  The driver then connects with exactly this file and context, so no other cluster is reached.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import yaml
from kubernetes import config

from harness.errors import ClusterRefused
from harness.platform.kubernetes import incluster

DEFAULT_KUBECONFIG = "~/.kube/config"


@dataclass(frozen=True)
class Cluster:
    """A kubeconfig and the context in it that a run uses."""

    kubeconfig: str  # as given to the client: one path, or several joined by os.pathsep ($KUBECONFIG)
    context: str
    server: str
    user: str
    source: str  # where the kubeconfig came from: platform.kubeconfig, $KUBECONFIG or the default


def kubeconfig_paths(given: str | None) -> tuple[str, str]:
    """The kubeconfig (paths joined by ``:``) and where it came from, as the ``kubernetes`` client would find it."""
    if given:
        return os.path.expanduser(given), "platform.kubeconfig"
    env = os.environ.get("KUBECONFIG", "")
    if env.strip(os.pathsep).strip():
        paths = [os.path.expanduser(p) for p in env.split(os.pathsep) if p]
        return os.pathsep.join(paths), "$KUBECONFIG"
    return os.path.expanduser(DEFAULT_KUBECONFIG), DEFAULT_KUBECONFIG


def resolve(given: str | None, context: str | None) -> Cluster:
    """The cluster a run may talk to, or ``ClusterRefused`` saying why not and what to do."""
    path, source = kubeconfig_paths(given)
    existing = [p for p in path.split(os.pathsep) if os.path.isfile(p)]
    if not existing and source == DEFAULT_KUBECONFIG and context is None and incluster.available():
        # In a pod with no kubeconfig: its service account, as kubectl and client-go do (``kibench cluster run``)
        return Cluster(incluster.IN_CLUSTER, incluster.CONTEXT, incluster.server(), "serviceaccount", "in-cluster")
    if not existing:
        field = "platform.kubeconfig" if given else "the kubeconfig"
        raise ClusterRefused(
            f"{field}: no kubeconfig file at {path} (from {source}); point platform.kubeconfig or $KUBECONFIG at "
            "your cluster's kubeconfig (kind writes ~/.kube/config; `kind get kubeconfig` prints it)"
        )
    try:
        contexts, current = config.list_kube_config_contexts(config_file=os.pathsep.join(existing))
    except (config.ConfigException, OSError, ValueError, TypeError, AttributeError) as exc:
        raise ClusterRefused(f"kubeconfig {path} (from {source}) cannot be read: {exc}") from exc
    names = [str(c.get("name")) for c in contexts or []]
    if context is not None:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
        if chosen is None:
            have = ", ".join(names) or "none"
            raise ClusterRefused(
                f"platform.context: the kubeconfig {path} (from {source}) has no context {context!r} (it has: {have});"
                " kibench talks only to the context the scenario names: fix platform.context or use the kubeconfig"
                " of that cluster (platform.kubeconfig)"
            )
    else:
        chosen = current
        if not chosen:
            raise ClusterRefused(
                f"the kubeconfig {path} (from {source}) has no current-context; name one with platform.context "
                f"(it has: {', '.join(names) or 'none'})"
            )
    name = str(chosen.get("name"))
    details = chosen.get("context") or {}
    server = _server(os.pathsep.join(existing), str(details.get("cluster", "")))
    if not server:
        raise ClusterRefused(
            f"kubeconfig {path}: context {name!r} names cluster {details.get('cluster')!r}, which has no server "
            "there; fix the kubeconfig (kubectl config view shows it)"
        )
    return Cluster(os.pathsep.join(existing), name, server, str(details.get("user", "")), source)


def _server(kubeconfig: str, cluster: str) -> str:
    """The named cluster's API server URL, read from the files (the first file that has it wins, as in kubectl)."""
    for path in kubeconfig.split(os.pathsep):
        try:
            with open(path, encoding="utf-8") as fh:
                doc = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError):
            continue
        for entry in doc.get("clusters") or [] if isinstance(doc, dict) else []:
            if isinstance(entry, dict) and entry.get("name") == cluster:
                return str((entry.get("cluster") or {}).get("server") or "")
    return ""
