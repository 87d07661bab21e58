"""The scenario's say on where and how the service's pods run on a cluster: image, resources, placement.

In: the ``service`` section's ``image``, ``image_pull_policy``, ``image_pull_secrets``, ``resources``,
``node_selector`` and ``tolerations`` (the types below; ``harness.scenario`` puts them on ``ServiceSpec``).
Out: validated values (errors say what is wrong and how to write it) and ``pod_update``, which reconciles
``service.resources`` with ``platform.pod.gpus`` / ``cpu_request`` (the numbers the embedded scheduler, the
HPA's CPU utilisation and the cost figures use) so the two can never disagree.

Image names (docs/kubernetes.md#images): ``SERVICE_IMAGE`` is the reference service and ``HARNESS_IMAGE`` the
harness (the ``kibench`` CLI), both targets of the repository's Dockerfile and tagged with the package version.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from harness import __version__

#: The reference service's image: ``docker build --target service -t kibench-service:<version> .``
SERVICE_IMAGE = f"kibench-service:{__version__}"
#: The harness's image (the ``kibench`` CLI): ``docker build --target harness -t kibench-harness:<version> .``
HARNESS_IMAGE = f"kibench-harness:{__version__}"
GPU_RESOURCE = "nvidia.com/gpu"
#: ``load.placement: cluster`` (``kibench cluster run``): the workers' Deployment, the Service in front of the Locust
#: master (in the Job's pod) and its port, and the variable that gives the Job's container its pod IP to listen on.
LOAD_WORKERS_NAME = "kibench-load-worker"
LOAD_MASTER_SERVICE = "kibench-load-master"
LOAD_MASTER_PORT = 5557
POD_IP_ENV = "KIBENCH_POD_IP"

# Docker's reference grammar (distribution/reference), in short: [host[:port]/]path[:tag][@digest].
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_HOST = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*(?::\d+)?/)"
_IMAGE = re.compile(
    rf"^{_HOST}?{_COMPONENT}(?:/{_COMPONENT})*(?::[\w][\w.-]{{0,127}})?(?:@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{{32,}})?$"
)
_QUANTITY = re.compile(r"^\+?(?P<num>\d+(?:\.\d*)?|\.\d+)(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$")
_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9, "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}  # fmt: skip
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def quantity_value(text: str) -> Decimal:
    """A Kubernetes quantity (``500m``, ``2``, ``1.5Gi``, ``1e9``) as a number; ValueError says how to write one."""
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a Kubernetes quantity; write e.g. '500m' or '2' (cpu), '512Mi' or '4Gi' "
                         "(memory)")  # fmt: skip
    suffix = match["suffix"] or ""
    exponent = suffix[:1] in ("e", "E") and suffix not in _SUFFIX  # 1e3; E alone is exa (10^18), Ei 2^60
    try:
        return Decimal(match["num"]) * (Decimal(10) ** int(suffix[1:]) if exponent else _SUFFIX[suffix])
    except (ArithmeticError, ValueError):  # decimal's Overflow and InvalidOperation are ArithmeticErrors
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from None


def _quantity(value: Any) -> str:
    """A quantity as Kubernetes writes it: numbers become strings (``0.5`` -> ``500m``); must be > 0."""
    if isinstance(value, bool):
        raise ValueError("write a quantity such as '500m', '2' or '4Gi'")
    if isinstance(value, int | float):
        value = str(int(value)) if float(value).is_integer() else f"{round(value * 1000)}m"
    text = str(value).strip()
    if quantity_value(text) <= 0:
        raise ValueError(f"must be > 0 (got {value!r}); leave the field out to ask for none")
    return text


Quantity = Annotated[str, BeforeValidator(_quantity)]


class ResourceList(_Model):
    """Requests or limits of the service container: ``cpu``, ``memory``, ``nvidia.com/gpu`` (or ``gpu``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    cpu: Quantity | None = Field(None, description="cores: '500m', '2'")
    memory: Quantity | None = Field(None, description="bytes: '512Mi', '4Gi'")
    gpu: int | None = Field(
        None, alias=GPU_RESOURCE, ge=0, le=64, description="whole GPUs (nvidia.com/gpu; `gpu` is the same field)"
    )

    def as_k8s(self) -> dict[str, str]:
        out = {"cpu": self.cpu, "memory": self.memory, GPU_RESOURCE: None if self.gpu is None else str(self.gpu)}
        return {key: value for key, value in out.items() if value is not None}


class ResourcesSpec(_Model):
    """The service container's ``resources``, as in a pod spec (requests never above limits)."""

    requests: ResourceList = ResourceList()
    limits: ResourceList = ResourceList()

    @model_validator(mode="after")
    def _consistent(self) -> ResourcesSpec:
        req, lim = self.requests, self.limits
        if req.gpu is not None and lim.gpu is not None and req.gpu != lim.gpu:
            raise ValueError(f"requests.nvidia.com/gpu ({req.gpu}) must equal limits.nvidia.com/gpu ({lim.gpu}): "
                             "GPUs cannot be overcommitted; give the count once, in limits")  # fmt: skip
        for name in ("cpu", "memory"):
            asked, cap = getattr(req, name), getattr(lim, name)
            if asked is not None and cap is not None and quantity_value(asked) > quantity_value(cap):
                raise ValueError(f"requests.{name} ({asked}) must be <= limits.{name} ({cap}); raise the limit "
                                 "or lower the request")  # fmt: skip
        return self

    @property
    def gpus(self) -> int | None:
        """GPUs per replica, when given (a limit alone also sets the request, as Kubernetes does)."""
        return self.limits.gpu if self.limits.gpu is not None else self.requests.gpu

    @property
    def cpu_request_cores(self) -> float | None:
        """The CPU request in cores, when given (a limit alone also sets the request)."""
        text = self.requests.cpu or self.limits.cpu
        return None if text is None else float(quantity_value(text))


class Toleration(_Model):
    """A pod toleration, as in a pod spec (``toleration_seconds`` is ``tolerationSeconds``)."""

    key: str | None = Field(None, description="taint key; empty with operator Exists: every taint")
    operator: Literal["Exists", "Equal"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(None, description="empty: all")
    toleration_seconds: int | None = Field(None, ge=0, description="NoExecute only: how long the pod stays")

    @model_validator(mode="after")
    def _valid(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("operator Exists takes no value; remove value or use operator Equal")
        if not self.key and self.operator != "Exists":
            raise ValueError("a toleration without key must use operator Exists (it then tolerates every taint)")
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError("toleration_seconds needs effect NoExecute")
        if self.key and not _label_key_ok(self.key):
            raise ValueError(f"{self.key!r} is not a taint key (like nvidia.com/gpu: an optional DNS prefix and '/', "
                             "then at most 63 letters, digits, '-', '_' or '.')")  # fmt: skip
        return self

    def as_k8s(self) -> dict[str, Any]:
        out = {"key": self.key, "operator": self.operator, "value": self.value, "effect": self.effect,
               "tolerationSeconds": self.toleration_seconds}  # fmt: skip
        return {key: value for key, value in out.items() if value is not None}


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return False
    return bool(_LABEL_NAME.match(name))


def check_image(value: str) -> str:
    if not _IMAGE.match(value) or len(value) > 512:
        raise ValueError(f"{value!r} is not an image reference; write e.g. kibench-service:0.1.0 or "
                         "ghcr.io/org/kibench-service:0.1.0 (lowercase path, ':tag', '@sha256:...')")  # fmt: skip
    return value


def check_node_selector(value: dict[str, str]) -> dict[str, str]:
    for key, label in value.items():
        if not _label_key_ok(key):
            raise ValueError(f"node_selector key {key!r} is not a label key (e.g. nvidia.com/gpu.present or "
                             "cloud.google.com/gke-accelerator)")  # fmt: skip
        if label and not _LABEL_NAME.match(label):
            raise ValueError(f"node_selector[{key!r}]: {label!r} is not a label value (at most 63 letters, digits, "
                             "'-', '_' or '.', starting and ending with a letter or digit; quote 'true')")  # fmt: skip
    return value


def check_pull_secrets(value: list[str]) -> list[str]:
    for name in value:
        if len(name) > 253 or not _DNS_SUBDOMAIN.match(name):
            raise ValueError(f"{name!r} is not a Secret name (lowercase letters, digits, '-' and '.'); give the name "
                             "of a docker-registry Secret in the run's namespace")  # fmt: skip
    return value


ImageRef = Annotated[str, AfterValidator(check_image)]
NodeSelector = Annotated[dict[str, str], AfterValidator(check_node_selector)]
PullSecrets = Annotated[list[str], AfterValidator(check_pull_secrets)]

#: ``ServiceSpec`` fields that shape the pod, not the service process (left out of its configuration).
PLACEMENT_FIELDS = frozenset(
    {"image", "image_pull_policy", "image_pull_secrets", "resources", "node_selector", "tolerations"}
)


def pod_update(resources: ResourcesSpec | None, gpus: int, cpu_request: float, explicit: set[str]) -> dict[str, Any]:
    """The ``platform.pod`` fields to take from ``service.resources`` (``{}`` when it says nothing new).

    ``explicit``: the ``platform.pod`` fields the scenario set itself; one that disagrees with ``service.resources``
    is an error naming both (the GPU count and the CPU request are said in one place)."""
    if resources is None:
        return {}
    update: dict[str, Any] = {}
    wanted = (("gpus", resources.gpus, gpus, "nvidia.com/gpu"),
              ("cpu_request", resources.cpu_request_cores, cpu_request, "cpu"))  # fmt: skip
    for field, given, current, key in wanted:
        if given is None or given == current:
            continue
        if field in explicit:
            raise ValueError(f"service.resources asks for {key} {given:g} but platform.pod.{field} is {current:g}; "
                             f"give it in one place: remove platform.pod.{field} (service.resources wins)")  # fmt: skip
        update[field] = given
    return update
