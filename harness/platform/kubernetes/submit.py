"""``kibench cluster run``: submit kibench itself to a cluster as a Job, follow it, bring its run folder back.

In: the scenario file's text and its resolved ``Scenario`` (``platform.kubeconfig``/``context``/``namespace``
say where), the ``--set`` overrides for the pod, the local results folder, ``keep``, a ``print_line`` for the
pod's output, the harness image and what the scenario's faults need (``harness_job.FaultRules``).
Out: ``Submitted`` (the pod's exit code, the local run folder, an error), having, in this order:

1. made the run's own namespace ``kibench-<id>`` (or checked the named one), refused any object of the names
   below that is not this run's (``Guard.preflight``; nothing is created then), and created, stamped with
   the run's label, the ServiceAccount, Role, RoleBinding, ClusterRole, ClusterRoleBinding, ConfigMap,
   (``load.placement: cluster``) the load workers' Service and Deployment, and Job of ``harness_job.render``;
2. waited for the Job's pod to start (saying why it waits: image pull, a missing volume source), then
   followed its log (``follow=true``) and printed every line of it except the run-folder block;
3. read the container's exit code from the pod's status (the run's: 0, 1, 2, 3, 4 or 130);
4. unpacked the run-folder block (``runcopy``) into the results folder, reading the whole log once more when
   the follow missed part of it;
5. deleted everything it made, also after a failure and on SIGINT/SIGTERM (a second signal does not cut the
   clean-up short), unless ``keep``: the namespace (with everything in it) or, in a named namespace, its
   objects; and the ClusterRole and ClusterRoleBinding, which no namespace holds.

A signal while the pod runs deletes the pod first, gracefully: the in-pod run stops its load, analyses what
it has and prints its folder, which is still copied back (bounded by the pod's termination grace period,
``harness_job.STOP_GRACE_S``, after which the kubelet kills it); a second signal stops waiting for it.
"""

from __future__ import annotations

import contextlib
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from harness import deployspec
from harness.errors import EXIT_INTERRUPTED, ClusterRefused, HarnessError, Interrupted, PlatformError, PlatformTimeout
from harness.platform.kubernetes import harness_job, kubeconfig, rest, runcopy, scope
from harness.platform.kubernetes.cluster import CLEANUP_WAIT_S, namespace_manifest, require_namespace
from harness.platform.kubernetes.guard import Guard
from harness.procs import poll_until
from harness.scenario import Scenario

Obj = dict[str, Any]
START_TIMEOUT_S = 300.0  # image pull and scheduling on a real cluster
EXIT_WAIT_S = 60.0
#: ``--set`` paths that say where the client's cluster is; the pod works in its own namespace, in-cluster.
CLIENT_ONLY = ("platform.kind", "platform.kubeconfig", "platform.context", "platform.namespace")
WAITING_PROBLEMS = ("ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError", "InvalidImageName")


@dataclass
class Submitted:
    exit_code: int
    run_dir: Path | None = None
    error: str | None = None
    namespace: str = ""
    kept: str | None = None  # how to remove what --keep kept


def pod_sets(sets: list[str]) -> list[str]:
    """The overrides that travel to the pod (not those naming the client's cluster)."""
    return [s for s in sets if not s.split("=", 1)[0].strip().startswith(CLIENT_ONLY)]


def new_id(scenario: Scenario) -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{scenario.name}-{secrets.token_hex(2)}"


class ClusterRun:
    """One ``kibench cluster run``."""

    def __init__(
        self,
        scenario: Scenario,
        scenario_text: str,
        sets: list[str],
        results: Path,
        keep: bool = False,
        print_line: Callable[[str], None] = print,
        image: str = harness_job.HARNESS_IMAGE,
        faults: harness_job.FaultRules | None = None,
    ) -> None:
        spec = scenario.platform
        self.cluster = kubeconfig.resolve(spec.kubeconfig, spec.context)
        self.run_id = new_id(scenario)
        self.own_namespace = spec.namespace is None
        self.namespace = spec.namespace or scope.run_namespace(self.run_id)
        self.label = scope.run_label(self.run_id)
        kinds = harness_job.service_objects(scenario)
        workers = scenario.load.workers if scenario.load.placement == "cluster" else 0
        self.objects = harness_job.render(scenario_text, pod_sets(sets), self.namespace, kinds, image, workers, faults)
        self.load_workers = workers
        self.results, self.keep, self.print_line = results, keep, print_line
        self.cleanup_timeout_s = CLEANUP_WAIT_S + spec.pod.termination_grace_period
        self._api: client.ApiClient | None = None
        self._created = False
        self._signalled = 0
        self._interrupted_at: float | None = None
        self._shown = 0

    # ---- plan (--dry-run) -----------------------------------------------------------------
    def manifests(self) -> list[Obj]:
        """Every object as it is created (stamped), the namespace first when it is the run's own."""
        first = [scope.stamp(namespace_manifest(self.namespace), self.label)] if self.own_namespace else []
        return first + [scope.stamp(o, self.label) for o in self.objects.objects]

    def plan_lines(self) -> list[str]:
        c = self.cluster
        lines = [f"cluster: context {c.context!r} ({c.server}) from kubeconfig {c.kubeconfig} ({c.source})"]
        lines.append(f"namespace: {self.namespace}" + (", the run's own (deleted at the end)" if self.own_namespace
                                                      else ", named: must exist, never deleted"))  # fmt: skip
        for obj in self.manifests():
            kind = rest.kind_of(obj["kind"])
            lines.append(f"  create {kind.describe(obj['metadata'].get('namespace'), obj['metadata']['name'])}")
        job = self.objects.get("Job")["spec"]["template"]["spec"]["containers"][0]
        lines.append(f"  then: the Job's pod runs {job['image']}: kibench {' '.join(job['args'])}")
        if self.load_workers:
            lines.append(f"  load: {self.load_workers} Locust workers (Deployment {deployspec.LOAD_WORKERS_NAME}) "
                         f"reach the master in the Job's pod through Service {deployspec.LOAD_MASTER_SERVICE}:"
                         f"{deployspec.LOAD_MASTER_PORT} and ship their rows to it")  # fmt: skip
        lines.append("  its log is followed here; the run folder comes back through it; exit code = the pod's")
        lines.append("clean-up: delete everything above (also on failure and SIGINT); --keep keeps it")
        return lines

    def check(self) -> str:
        """Read the cluster (GET only) for what a run would refuse (``ClusterRefused``); the line to print."""
        try:
            guard = Guard(self.api, self.namespace, self.label)
            if not self.own_namespace:
                require_namespace(guard, self.namespace)
            found = guard.conflicts(self.manifests())
        except PlatformError as exc:
            return f"cluster not checked (it did not answer: {exc}); nothing was sent to it"
        finally:
            if self._api is not None:
                self._api.close()
                self._api = None
        if found:
            raise ClusterRefused("a run would refuse: " + "; ".join(found))
        return "cluster checked (read only): the context answers, no object of these names is another's"

    # ---- run ----------------------------------------------------------------------------------
    @property
    def api(self) -> client.ApiClient:
        if self._api is None:
            try:
                self._api = config.new_client_from_config(config_file=self.cluster.kubeconfig,
                                                          context=self.cluster.context)  # fmt: skip
            except Exception as exc:  # a broken kubeconfig
                raise PlatformError(f"kubeconfig {self.cluster.kubeconfig}: {exc}") from exc
        return self._api

    def run(self) -> Submitted:
        outcome = Submitted(3, namespace=self.namespace)
        with self._signals():
            try:
                self._submit()
                pod = self._wait_started()
                reader = self._follow(pod)
                outcome.exit_code = self._exit_code(pod)
                reader = self._whole(pod, reader)
                if reader.name is None and outcome.exit_code != 0:  # e.g. a scenario the pod refused (exit 2)
                    outcome.error = (
                        f"the run in the cluster ended (exit {outcome.exit_code}) before it made a run folder"
                    )
                else:
                    outcome.run_dir = reader.extract(self.results)
            except HarnessError as exc:
                outcome.exit_code, outcome.error = exc.exit_code, str(exc)
            except KeyboardInterrupt:
                outcome.exit_code, outcome.error = EXIT_INTERRUPTED, "interrupted; the cluster was cleaned up"
            finally:
                self._shielded = True
                try:
                    outcome.kept = self._clean_up()
                except HarnessError as exc:
                    outcome.error = (outcome.error + "; " if outcome.error else "") + str(exc)
                    outcome.exit_code = outcome.exit_code or exc.exit_code
                finally:
                    if self._api is not None:
                        self._api.close()
        return outcome

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        """SIGINT/SIGTERM: the first stops the pod gracefully (its folder still comes back), the next ends the
        wait; none cuts the clean-up short."""
        self._shielded = False

        def handle(signum: int, frame: Any) -> None:
            self._signalled += 1
            if self._shielded:
                return
            if self._signalled == 1 and self._created:
                raise Interrupted(f"interrupted by {signal.Signals(signum).name}")
            raise KeyboardInterrupt

        old = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)

    def _submit(self) -> None:
        guard = Guard(self.api, self.namespace, self.label)
        guard.preflight(self.objects.objects)
        self._created = True
        if self.own_namespace:
            guard.create(namespace_manifest(self.namespace))
        else:
            require_namespace(guard, self.namespace)
        for obj in self.objects.objects:
            guard.create(obj)

    def _pods(self) -> list[Obj]:
        selector = f"batch.kubernetes.io/job-name={self.objects.job_name},{scope.selector(self.label)}"
        found = rest.call(
            self.api, "GET", rest.kind_of("Pod").path(self.namespace), query=[("labelSelector", selector)]
        )
        return list(found.get("items") or [])

    def _run_pods(self) -> list[Obj]:
        """Every pod of the run: the Job's, and the load workers' (``load.placement: cluster``)."""
        query = [("labelSelector", scope.selector(self.label))]
        found = rest.call(self.api, "GET", rest.kind_of("Pod").path(self.namespace), query=query)
        return list(found.get("items") or [])

    def _job_failed(self) -> str | None:
        job = rest.get(self.api, rest.kind_of("Job"), self.namespace, self.objects.job_name) or {}
        for cond in (job.get("status") or {}).get("conditions") or []:
            if cond.get("type") == "Failed" and cond.get("status") == "True":
                return f"{cond.get('reason')}: {cond.get('message')}"
        return None

    def _wait_started(self) -> Obj:
        """The Job's pod once its container runs (or has ended); says why it waits."""
        said: set[str] = set()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            with self._interruptible():
                for pod in self._pods():
                    state = _state(pod)
                    if "running" in state or "terminated" in state:
                        return pod
                    waiting = state.get("waiting") or {}
                    if waiting.get("reason") in WAITING_PROBLEMS and waiting["reason"] not in said:
                        said.add(waiting["reason"])
                        self.print_line(f"kibench: pod {pod['metadata']['name']} waits: {waiting['reason']}: "
                                        f"{waiting.get('message', '')}")  # fmt: skip
                failed = self._job_failed()
                if failed:
                    raise PlatformError(
                        f"Job {self.namespace}/{self.objects.job_name} failed before its pod ran ({failed})"
                    )
                time.sleep(0.5)
        raise PlatformTimeout(
            f"the Job's pod did not start within {START_TIMEOUT_S:g}s; see kubectl -n {self.namespace} describe pods "
            f"-l batch.kubernetes.io/job-name={self.objects.job_name} (rerun with --keep to look)"
        )

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[None]:
        """A first signal while the pod exists: delete the pod gracefully and go on reading its log."""
        try:
            yield
        except Interrupted:
            self.print_line("kibench: interrupted: stopping the run in the cluster (its results still come back)")
            self._stop_pod()
            self._interrupted_at = time.monotonic()

    def _stop_pod(self) -> None:
        guard = Guard(self.api, self.namespace, self.label)
        for pod in self._pods():
            with contextlib.suppress(HarnessError, ApiException):
                guard.delete("Pod", pod["metadata"]["name"])

    def _follow(self, pod: Obj) -> runcopy.Reader:
        name = pod["metadata"]["name"]
        path = rest.kind_of("Pod").path(self.namespace, name, "log")
        query = [("follow", "true"), ("container", harness_job.CONTAINER)]
        self._shown = 0  # lines printed so far: a follow opened again after an interruption starts from the top
        for _ in range(2):
            reader = runcopy.Reader()
            try:
                with self._interruptible():
                    self._stream(path, query, reader)
                    return reader
            except (HTTPError, ApiException, OSError) as exc:  # the stream broke: the block is read again later
                self.print_line(f"kibench: following the pod's log stopped ({exc}); waiting for the pod to end")
                return reader
        return reader

    def _stream(self, path: str, query: list[tuple[str, str]], reader: runcopy.Reader) -> None:
        response = self.api.call_api(
            path, "GET", query_params=query, header_params={"Accept": "*/*"}, auth_settings=["BearerToken"],
            _preload_content=False, _return_http_data_only=True, _request_timeout=(10, None),
        )  # fmt: skip
        pending, index = b"", 0

        def take(line: bytes) -> None:
            nonlocal index
            text = line.decode("utf-8", "replace")
            index += 1
            if reader.feed(text) and index > self._shown:
                self.print_line(text)
                self._shown = index

        try:
            chunks = response.read_chunked() if getattr(response, "chunked", False) else response.stream(4096)
            for chunk in chunks:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    take(line)
            if pending:
                take(pending)
        finally:
            response.release_conn()

    def _exit_code(self, pod: Obj) -> int:
        name = pod["metadata"]["name"]
        deadline = time.monotonic() + EXIT_WAIT_S
        while time.monotonic() < deadline:
            with self._interruptible():
                found = rest.get(self.api, rest.kind_of("Pod"), self.namespace, name)
                if found is None and self._interrupted_at is not None:
                    return EXIT_INTERRUPTED  # stopped by the interruption and gone before its status was read
                if found is None:
                    break
                terminated = _state(found).get("terminated")
                if terminated and terminated.get("exitCode") is not None:
                    return int(terminated["exitCode"])
                time.sleep(0.25)
        raise PlatformError(f"pod {self.namespace}/{name} ended without an exit code (it was deleted, or its node "
                            "was lost); its run folder may not have come back")  # fmt: skip

    def _whole(self, pod: Obj, reader: runcopy.Reader) -> runcopy.Reader:
        """The reader of the follow, or, when it broke off before the block's end, of the whole log read again."""
        if not reader.complete:
            again = runcopy.Reader()
            path = rest.kind_of("Pod").path(self.namespace, pod["metadata"]["name"], "log")
            response = self.api.call_api(path, "GET", query_params=[("container", harness_job.CONTAINER)],
                                         header_params={"Accept": "*/*"}, auth_settings=["BearerToken"],
                                         _preload_content=False, _return_http_data_only=True,
                                         _request_timeout=60)  # fmt: skip
            for line in response.data.decode("utf-8", "replace").splitlines():
                again.feed(line)
            reader = again
        return reader

    # ---- clean-up -------------------------------------------------------------------------------
    def _clean_up(self) -> str | None:
        if not self._created:
            return None
        c = self.cluster
        kubectl = f"kubectl --kubeconfig {c.kubeconfig} --context {c.context}"
        if self.keep:
            what = (
                f"delete namespace {self.namespace}"
                if self.own_namespace
                else f"-n {self.namespace} delete all,sa,role,rolebinding,configmap -l {scope.selector(self.label)}"
            )
            return (f"kept (--keep): {kubectl} {what}; {kubectl} delete clusterrole,clusterrolebinding "
                    f"-l {scope.selector(self.label)}")  # fmt: skip
        guard = Guard(self.api, self.namespace, self.label)
        for obj in reversed(self.objects.objects):
            if self.own_namespace and rest.kind_of(obj["kind"]).namespaced:
                continue  # the namespace takes them with it
            guard.remove(obj["kind"], obj["metadata"]["name"])
        if self.own_namespace:
            if guard.remove("Namespace", self.namespace) == "deleted":
                gone = poll_until(lambda: guard.get("Namespace", self.namespace) is None, self.cleanup_timeout_s, 0.25)
                if not gone:
                    raise PlatformTimeout(
                        f"namespace {self.namespace} is still terminating after {self.cleanup_timeout_s:g}s; "
                        f"{kubectl} get namespace {self.namespace}"
                    )
            return None
        if not poll_until(lambda: not self._run_pods(), self.cleanup_timeout_s, 0.25):
            raise PlatformTimeout(
                f"the run's pods in {self.namespace} are still there after {self.cleanup_timeout_s:g}s"
            )
        return None


def _state(pod: Obj) -> Obj:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return dict((statuses[0].get("state") or {}) if statuses else {})
