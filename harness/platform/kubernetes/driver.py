"""The one platform driver: the scenario's service on any Kubernetes API, through the official client.

In: a resolved ``Scenario``, a kubeconfig and context (the embedded cluster's, or a real cluster's), the
namespace, the run's id and clock, and whether the run owns the whole cluster.  Out: an object implementing
``harness.model.Platform``.  Every write goes through ``guard.Guard``: objects are created stamped with the
run's label, and nothing without it is changed or deleted (``ClusterRefused``, exit 2, names it).

- ``deploy()`` refuses when an object of the manifests' names exists and is not the run's, then creates them
  (``manifests.render``: Deployment, Service, HPA autoscaling/v2,
  PDB, plus a Secret with the service's admin token), follows pods, nodes, the Deployment, the HPA and
  Events through watches (``informer``), waits until the initial replicas are Ready and returns the
  URL the load goes to (``route.py``: ``platform.url``, else the Service's ``status.loadBalancer.ingress``,
  which the embedded cluster publishes on loopback, else a port-forward through the API server);
- ``state()`` and ``events(since)`` read the informers' caches (no API call): ``observed`` turns the watched
  pods, nodes, Deployment and HPA into replicas, nodes and the HPA's metrics; ``translate`` derives the run
  events from the watches;
- ``kill_pod``, ``scale``, ``rollout`` (the ``restartedAt`` annotation, as ``kubectl rollout restart``),
  ``cordon`` and ``drain_node`` (cordon + the eviction API, retried while a PDB blocks; only on a cluster the
  run owns, ``owns_cluster``: the embedded one) act through the API;
- in a pod (``kibench cluster run``), ``deploy()``'s details name ``chaos_kubeconfig``, a kubeconfig for the
  pod's service account and namespace (``incluster.write_kubeconfig``) that the run's experiments use;
- ``teardown()`` stops the watches (and, with ``cleanup``, deletes the objects of the manifests that are the
  run's, then waits, bounded, until the run's pods are gone).
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from harness.errors import PlatformError, PlatformTimeout
from harness.model import Deployment, Event, PlatformState
from harness.platform.kubernetes import incluster, manifests, observed, route, scope
from harness.platform.kubernetes.guard import Guard
from harness.platform.kubernetes.informer import Informer
from harness.platform.kubernetes.translate import Translator, cond, container, is_true, monotonic_to_wall
from harness.portforward import Tunnel
from harness.procs import poll_until
from harness.scenario import Scenario

Obj = dict[str, Any]
#: In a pod: where the experiments' kubeconfig is written (inside the container; no secret in it, a token file).
CHAOS_KUBECONFIG = "/tmp/kibench/chaos-kubeconfig"


@dataclass(frozen=True)
class Target:
    """Where the driver works: the kubeconfig (and context) and the namespace."""

    kubeconfig: str
    namespace: str = "default"
    context: str | None = None


class KubernetesDriver:
    """Deploys and follows the reference service on the cluster a kubeconfig names."""

    def __init__(
        self,
        scenario: Scenario,
        target: Target,
        t0_monotonic: float,
        kind: str = "kubernetes",
        cleanup: bool = False,
        run_id: str | None = None,
        owns_cluster: bool = False,
    ) -> None:
        self.scenario = scenario
        self.target = target
        self.kind = kind
        self.cleanup = cleanup
        self.run_label = scope.run_label(run_id or f"{scenario.name}-{secrets.token_hex(2)}")
        self.owns_cluster = owns_cluster
        self._guard: Guard | None = None
        self.t0 = t0_monotonic
        self.name = manifests.dns_name(f"{scenario.name}-svc")
        self.admin_token = secrets.token_urlsafe(24)
        self.manifests = manifests.render(scenario, self.name, admin_token=self.admin_token)
        self.translator = Translator(monotonic_to_wall(t0_monotonic), self.now_s)
        self.informers: dict[str, Informer] = {}
        self.api: client.ApiClient | None = None
        self._lock = threading.Lock()
        self.route: route.Route | None = None
        self.tunnel: Tunnel | None = None  # the port-forward, when that is the route
        self._picks = 0
        if scenario.platform.route == "loadbalancer":
            self.manifests.service["spec"]["type"] = "LoadBalancer"

    def now_s(self) -> float:
        return time.monotonic() - self.t0

    # ---- lifecycle ------------------------------------------------------------------------
    def connect(self) -> client.ApiClient:
        if self.api is None and self.target.kubeconfig == incluster.IN_CLUSTER:
            self.api = incluster.new_client()  # kibench in a pod: its service account
        if self.api is None:
            try:
                self.api = config.new_client_from_config(
                    config_file=self.target.kubeconfig, context=self.target.context
                )
            except Exception as exc:  # a missing or broken kubeconfig
                raise PlatformError(f"kubeconfig {self.target.kubeconfig}: {exc}") from exc
        return self.api

    @property
    def guard(self) -> Guard:
        """The one door of every write (created with the connection)."""
        api = self.connect()
        if self._guard is None or self._guard.api is not api:
            self._guard = Guard(api, self.target.namespace, self.run_label, self.owns_cluster)
        return self._guard

    def labelled(self) -> list[Obj]:
        """Every manifest as it is created: stamped with the run's labels."""
        return [scope.stamp(m, self.run_label) for m in self.manifests.all()]

    def deploy(self, wait_ready: bool = True) -> Deployment:
        """Apply the manifests and start the watches; with ``wait_ready``, return once the replicas are Ready."""
        api = self.connect()
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        self.guard.preflight(self.manifests.all())  # nothing is created next to another's object of the same name
        self._watch(core, apps)
        for manifest in self.manifests.all():
            self.guard.create(manifest)
        url = self._wait_ready() if wait_ready else str(poll_until(self.service_url, 10.0) or "")
        details = {
            "kubeconfig": self.target.kubeconfig,
            **({"chaos_kubeconfig": incluster.write_kubeconfig(CHAOS_KUBECONFIG, self.target.namespace)}
               if self.target.kubeconfig == incluster.IN_CLUSTER else {}),  # fmt: skip
            "namespace": self.target.namespace,
            "deployment": self.name,
            "api_url": api.configuration.host,
            **({"route": self.route.kind} if self.route is not None else {}),
            **({"route_warning": self.route.warning} if self.route is not None and self.route.warning else {}),
            **({"max_connections": self.route.max_connections} if self.route and self.route.max_connections else {}),
        }
        return Deployment(url, self.kind, details)

    @property
    def pod_selector(self) -> str:
        """The label selector of the run's pods (the service's instance and the run's label)."""
        return f"{manifests.INSTANCE_LABEL}={self.name},{scope.selector(self.run_label)}"

    def pods(self) -> list[Obj]:
        """The run's pods as the watch last saw them (none before ``deploy()`` or after ``teardown()``)."""
        informer = self.informers.get("pods")
        return informer.items() if informer is not None else []

    def _watch(self, core: client.CoreV1Api, apps: client.AppsV1Api) -> None:
        ns, t = self.target.namespace, self.translator
        auto = client.AutoscalingV2Api(self.connect())
        specs = {
            "pods": (core.list_namespaced_pod, t.pod, {"namespace": ns, "label_selector": self.pod_selector}),
            "nodes": (core.list_node, t.node, {}),
            "deployments": (
                apps.list_namespaced_deployment,
                t.deployment,
                {"namespace": ns, "field_selector": f"metadata.name={self.name}"},
            ),
            "hpa": (auto.list_namespaced_horizontal_pod_autoscaler, t.hpa, {"namespace": ns}),
            "services": (
                core.list_namespaced_service,
                _ignore,
                {"namespace": ns, "field_selector": f"metadata.name={self.name}"},
            ),
            "events": (core.list_namespaced_event, t.k8s_event, {"namespace": ns}),
        }
        for name, (fn, handler, kwargs) in specs.items():
            self.informers[name] = Informer(name, fn, handler, **kwargs).start()
        if not all(inf.synced.wait(15) for inf in self.informers.values()):
            errors = "; ".join(f"{n}: {i.error}" for n, i in self.informers.items() if i.error)
            self.teardown()
            raise PlatformError(
                f"could not list objects through {self.connect().configuration.host}: {errors or 'no answer'}"
            )

    def _wait_ready(self) -> str:
        want = self.scenario.service.replicas
        timeout = self.scenario.platform.ready_timeout
        ready = poll_until(lambda: sum(1 for p in self.informers["pods"].items() if _ready(p)) >= want, timeout)
        if not ready:
            raise PlatformTimeout(
                f"replicas not Ready within platform.ready_timeout ({timeout:g}s)"
                f"{self._why_not_ready()}; raise it or check the pods' logs"
            )
        self.route = self._choose_route()
        return self.route.url

    def _choose_route(self) -> route.Route:
        """``platform.url``, else the Service's external address, else a port-forward (``route.py``)."""
        spec = self.scenario.platform
        if spec.url is not None:
            return route.given_url(spec.url)
        if spec.route in ("auto", "loadbalancer"):
            waited_s = spec.ready_timeout if spec.route == "loadbalancer" else 2.0  # auto: a ClusterIP Service
            url = poll_until(self.service_url, waited_s)
            if url:
                return route.external(str(url))
            if spec.route == "loadbalancer":
                raise route.no_address(self.target.namespace, self.name, waited_s)
        chosen, self.tunnel = route.port_forward(
            self.target.kubeconfig, self.target.context, self.target.namespace, manifests.CONTAINER_PORT,
            self.pick_pod,
        )  # fmt: skip
        return chosen

    def pick_pod(self) -> str | None:
        """The next Ready pod of the run, round robin (the port-forward's choice for each new connection)."""
        names = sorted(p["metadata"]["name"] for p in self.informers["pods"].items() if _ready(p))
        if not names:
            return None
        self._picks += 1
        return names[self._picks % len(names)]

    def _why_not_ready(self) -> str:
        reasons = []
        for pod in self.informers["pods"].items():
            scheduled = cond(pod, "PodScheduled")
            if scheduled.get("reason") == "Unschedulable":
                fix = ("raise platform.nodes.count or platform.nodes.gpu_slots" if self.owns_cluster else
                       "on your cluster: add nodes that offer what the pod asks for (a nvidia.com/mig-* slice needs "
                       "GPUs partitioned by NVIDIA's GPU operator), or lower service.resources")  # fmt: skip
                reasons.append(f"{pod['metadata']['name']} Pending: {scheduled.get('message')} ({fix})")
            waiting = (container(pod).get("state") or {}).get("waiting") or {}
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff", "CrashLoopBackOff"):
                reasons.append(f"{pod['metadata']['name']} {waiting['reason']}: {waiting.get('message', '')}")
        return "; " + "; ".join(reasons[:3]) if reasons else ""

    def service_url(self) -> str | None:
        for svc in self.informers["services"].items():
            if self.target.kubeconfig == incluster.IN_CLUSTER and not _ingress(svc):  # in a pod: the cluster's DNS
                return f"http://{self.name}.{self.target.namespace}.svc:{svc['spec']['ports'][0]['port']}"
            for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
                host = ingress.get("ip") or ingress.get("hostname")
                ports = ingress.get("ports") or []
                port = ports[0]["port"] if ports else svc["spec"]["ports"][0]["port"]
                if host:
                    return f"http://{host}:{port}"
        return None

    def teardown(self) -> None:
        """Stop the watches; with ``cleanup``, delete the run's objects; close the connection (idempotent)."""
        with self._lock:
            self.stop_watching()
            try:
                if self.cleanup and self.api is not None:
                    self.delete_objects()
            finally:
                self.close()

    def stop_watching(self) -> None:
        if self.tunnel is not None:  # the load has stopped: the port-forward goes first
            self.tunnel.stop()
            self.tunnel = None
        for informer in self.informers.values():  # every watch ends at once, not one after the other
            informer.stop(wait=False)
        for informer in self.informers.values():
            informer.stop()
        self.informers.clear()

    def close(self) -> None:
        if self.api is not None:
            self.api.close()
            self.api = None
            self._guard = None

    def delete_objects(self, timeout_s: float = 60.0) -> dict[str, str]:
        """Delete the manifests' objects that are the run's (newest first), then wait for the run's pods to go.

        Returns what happened to each (``deleted``, ``absent``, ``foreign``: another's object, left alone)."""
        done = {}
        for manifest in reversed(self.manifests.all()):
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            done[f"{kind} {name}"] = self.guard.remove(kind, name)
        core, apps = client.CoreV1Api(self.connect()), client.AppsV1Api(self.connect())
        ns, selector = self.target.namespace, scope.selector(self.run_label)

        def gone() -> bool:  # the Deployment's ReplicaSets and pods go by garbage collection
            pods = core.list_namespaced_pod(ns, label_selector=selector).items
            return not pods and not apps.list_namespaced_replica_set(ns, label_selector=selector).items

        if not poll_until(gone, timeout_s, 0.5):
            raise PlatformTimeout(
                f"the run's pods or ReplicaSets in namespace {ns} were still there {timeout_s:g}s after their "
                f"Deployment was deleted; see kubectl get rs,pods -n {ns} -l {selector}"
            )
        return done

    # ---- what the run reads ---------------------------------------------------------------
    def state(self) -> PlatformState:
        if not self.informers:
            raise PlatformError("the platform driver is not running (deploy() first)")
        broken = [n for n, i in self.informers.items() if i.failures >= 3]
        if broken:
            errors = "; ".join(f"{n}: {self.informers[n].error}" for n in broken)
            raise PlatformError(f"the Kubernetes API stopped answering ({errors})")
        hpa = next((h for h in self.informers["hpa"].items() if h["metadata"]["name"] == self.name), None)
        return observed.platform_state(
            round(self.now_s(), 6),
            self.translator.at,
            self.informers["pods"].items(),
            self.informers["nodes"].items(),
            next(iter(self.informers["deployments"].items()), None),
            hpa,
        )

    def events(self, since: int) -> tuple[list[Event], int]:
        return self.translator.since(since)

    # ---- actions ----------------------------------------------------------------------------
    def _core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.connect())

    def kill_pod(self, name: str, grace_period_s: int | None = None) -> None:
        self.guard.delete("Pod", name, grace_period_s=grace_period_s)

    def scale(self, replicas: int) -> None:
        self.guard.change("Deployment", self.name, {"spec": {"replicas": replicas}}, subresource="scale")

    def rollout(self) -> None:
        """Restart every pod through a rolling update, as ``kubectl rollout restart`` does."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": stamp}}}}}
        self.guard.change("Deployment", self.name, body)

    def cordon(self, node: str, on: bool = True) -> None:
        """Mark the node (un)schedulable: only on a cluster the run owns (nodes are no run's objects elsewhere)."""
        self.guard.change("Node", node, {"spec": {"unschedulable": True if on else None}})

    def drain_node(self, node: str, timeout_s: float = 120.0, retry_s: float = 5.0) -> None:
        """Cordon the node, then evict its pods through the eviction API until none is left (PDB honoured)."""
        self.cordon(node, True)
        core, deadline = self._core(), time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            pods = core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}").items
            live = [p for p in pods if p.metadata.deletion_timestamp is None]
            if not pods:
                return
            for pod in live:
                try:
                    self.guard.evict(pod.metadata.name, pod.metadata.namespace)
                except ApiException as exc:  # 404: gone already; 429: a PodDisruptionBudget says not now
                    if exc.status not in (404, 429):
                        raise PlatformError(f"evicting {pod.metadata.name}: {exc.status} {_message(exc)}") from exc
            time.sleep(retry_s if live else 0.2)
        raise PlatformTimeout(f"node {node} still has pods after {timeout_s:g}s of draining (a PodDisruptionBudget?)")


def _ignore(change: str, old: Obj | None, new: Obj | None) -> None:
    return None


def _ingress(svc: Obj) -> list[Obj]:
    return list(((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or [])


def _ready(pod: Obj) -> bool:
    return is_true(pod, "Ready") and not pod["metadata"].get("deletionTimestamp")


def _message(exc: ApiException) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message"))
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


__all__ = ["KubernetesDriver", "Target"]
