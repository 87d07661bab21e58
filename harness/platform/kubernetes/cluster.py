"""``ClusterPlatform``: a run on your cluster (``platform.kind: kubernetes``), made safe to point at one.

In: a resolved ``Scenario`` (``platform.kubeconfig``, ``.context``, ``.namespace``), the run id, the run's
clock, ``keep`` (``kibench run --keep``) and the run's log folder.  Out: an object implementing
``harness.model.Platform``:

- construction resolves the kubeconfig and context from the file alone (``kubeconfig.resolve``): a kubeconfig
  without the context the scenario names is refused (``ClusterRefused``, exit 2) before anything else;
- ``deploy()`` makes the run's own namespace ``kibench-<run-id>`` (labelled ``kibench.io/run-id`` and
  ``app.kubernetes.io/managed-by=kibench``), or checks that the named one exists, then hands over to
  ``KubernetesDriver`` (refuses another's object of the same name, creates the service's objects through
  the guard, follows them, waits for Ready);
- ``teardown()`` stops the watches, then, unless ``keep``, deletes what the run made: its own namespace (and
  with it everything in it; waits until it is gone, at most ``namespace_timeout_s``), or in a named
  namespace the run's objects (never the namespace, never another's object).  It runs after a failed or
  interrupted run too, is idempotent, and finishes a clean-up that a signal cut short when called again.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from harness.errors import ClusterRefused, PlatformTimeout
from harness.model import Deployment, Event, PlatformState
from harness.platform.kubernetes import incluster, kubeconfig, resource_record, scope
from harness.platform.kubernetes.driver import KubernetesDriver, Target
from harness.platform.kubernetes.guard import Guard
from harness.platform.kubernetes.usage import UsagePoller
from harness.procs import poll_until
from harness.scenario import Scenario

#: How long clean-up waits for the run's namespace (or pods) to be gone, on top of the pods' grace period.
CLEANUP_WAIT_S = 90.0
log = logging.getLogger("kibench.kubernetes.cluster")


def namespace_manifest(name: str) -> dict[str, object]:
    """The run's own namespace (``Guard.create`` adds the run's labels)."""
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def require_namespace(guard: Guard, name: str) -> None:
    """A named namespace must exist and not be terminating (kibench never creates or deletes it)."""
    found = guard.get("Namespace", name)
    if found is None:
        raise ClusterRefused(
            f"platform.namespace: namespace {name!r} does not exist; create it (kubectl create namespace {name}) "
            "or leave platform.namespace out to get a namespace of the run's own"
        )
    if (found.get("metadata") or {}).get("deletionTimestamp"):
        raise ClusterRefused(f"platform.namespace: namespace {name!r} is being deleted; wait or name another")


class ClusterPlatform:
    """The Kubernetes driver on the cluster a kubeconfig names, in a namespace of the run's own (or a named one)."""

    kind = "kubernetes"

    def __init__(
        self, scenario: Scenario, run_id: str, t0_monotonic: float, keep: bool = False, log_dir: str | None = None
    ) -> None:
        spec = scenario.platform
        self.cluster = kubeconfig.resolve(spec.kubeconfig, spec.context)
        self.own_namespace = spec.namespace is None
        self.namespace = spec.namespace or scope.run_namespace(run_id)
        self.keep = keep
        self.namespace_timeout_s = CLEANUP_WAIT_S + spec.pod.termination_grace_period
        target = Target(self.cluster.kubeconfig, self.namespace, self.cluster.context)
        self.driver = KubernetesDriver(scenario, target, t0_monotonic, kind=self.kind, run_id=run_id)
        self._started = False  # deploy began: something of the run may exist
        self._deleted = False  # the clean-up's deletes went through
        self.run_dir = Path(log_dir).parent if log_dir else None  # usage.parquet and resources.json go here
        self.usage: UsagePoller | None = None
        self._recorded = False
        self._lock = threading.Lock()

    @property
    def run_label(self) -> str:
        return self.driver.run_label

    def describe(self) -> dict[str, object]:
        """Where the run works, for the run's output and the chaos experiments' configuration."""
        return {
            "kubeconfig": self.cluster.kubeconfig,
            "context": self.cluster.context,
            "namespace": self.namespace,
            "own_namespace": self.own_namespace,
            "run_label": f"{scope.RUN_LABEL}={self.run_label}",
            "keep": self.keep,
        }

    def deploy(self) -> Deployment:
        self._started = True
        guard = self.driver.guard
        if self.own_namespace:
            guard.create(namespace_manifest(self.namespace))
        elif not (self.cluster.kubeconfig == incluster.IN_CLUSTER and self.namespace == incluster.namespace()):
            require_namespace(guard, self.namespace)  # (a pod's own namespace exists; reading it needs a ClusterRole)
        deployment = self.driver.deploy()
        if self.run_dir is not None:
            self.usage = resource_record.start_usage(self.driver)
        return Deployment(deployment.target_url, self.kind, {**deployment.details, **self.describe()})

    def state(self) -> PlatformState:
        return self.driver.state()

    def events(self, since: int) -> tuple[list[Event], int]:
        return self.driver.events(since)

    def kill_pod(self, name: str) -> None:
        self.driver.kill_pod(name)

    def scale(self, replicas: int) -> None:
        self.driver.scale(replicas)

    def teardown(self) -> None:
        with self._lock:
            try:
                self._record()
                self.driver.stop_watching()
                if self._started and not self.keep and not self._deleted:
                    self._clean_up()
            finally:
                self.driver.close()

    def _record(self) -> None:
        """usage.parquet and resources.json, once, while the run's objects still exist (never fails teardown)."""
        if self._recorded or self.run_dir is None or self.usage is None:
            return
        self._recorded = True
        try:
            resource_record.write_record(self.driver, self.run_dir, self.usage)
        except Exception:  # noqa: BLE001 - a by-product: the clean-up must still run
            log.exception("could not record the run's resource usage")

    def _clean_up(self) -> None:
        if not self.own_namespace:
            self.driver.delete_objects(self.namespace_timeout_s)
            self._deleted = True
            return
        guard = self.driver.guard
        outcome = guard.remove("Namespace", self.namespace)
        self._deleted = True
        if outcome != "deleted":
            return  # never created (refused or interrupted first), or not the run's: nothing of the run is there
        started = time.monotonic()
        if not poll_until(lambda: guard.get("Namespace", self.namespace) is None, self.namespace_timeout_s, 0.25):
            raise PlatformTimeout(
                f"namespace {self.namespace} is still terminating {time.monotonic() - started:.0f}s after kibench "
                f"deleted it; the cluster finishes it on its own (kubectl --context {self.cluster.context} get "
                f"namespace {self.namespace})"
            )
