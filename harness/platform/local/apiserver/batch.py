"""What kube-apiserver fills in and refuses for a ``batch/v1`` Job, and for the RBAC objects' required fields.

In: a Job (or RoleBinding / ClusterRoleBinding) as a client sent it, after ``metadata.uid`` is set.  Out, for a
Job: the defaults kube-apiserver writes (``parallelism``/``completions`` 1, ``backoffLimit`` 6, ``completionMode``
NonIndexed, ``suspend`` false, the generated selector ``batch.kubernetes.io/controller-uid=<uid>`` and the
labels ``batch.kubernetes.io/controller-uid``, ``batch.kubernetes.io/job-name``, ``controller-uid``, ``job-name``
on the pod template, unless ``manualSelector``), and the causes of a 422: no template, a template whose
``restartPolicy`` is not ``Never`` or ``OnFailure``, a negative ``backoffLimit``.  A binding needs a ``roleRef``.
"""

from __future__ import annotations

from typing import Any

Causes = list[tuple[str, str]]
CONTROLLER_UID = "batch.kubernetes.io/controller-uid"
JOB_NAME = "batch.kubernetes.io/job-name"


def job_defaults(obj: dict[str, Any], _alloc: Any = None) -> None:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    for key, value in (("parallelism", 1), ("completions", 1), ("backoffLimit", 6)):
        spec.setdefault(key, value)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    template = spec.get("template")
    if not isinstance(template, dict):
        return
    pod_spec = template.setdefault("spec", {})
    if isinstance(pod_spec, dict):
        pod_spec.setdefault("terminationGracePeriodSeconds", 30)
        pod_spec.setdefault("dnsPolicy", "ClusterFirst")
        pod_spec.setdefault("schedulerName", "default-scheduler")
    if spec.get("manualSelector"):
        return
    uid, name = obj["metadata"].get("uid", ""), obj["metadata"].get("name", "")
    spec.setdefault("selector", {"matchLabels": {CONTROLLER_UID: uid}})
    labels = template.setdefault("metadata", {}).setdefault("labels", {})
    labels.update({CONTROLLER_UID: uid, JOB_NAME: name, "controller-uid": uid, "job-name": name})
    if not isinstance(obj.get("status"), dict):
        obj["status"] = {}


def job_valid(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    spec, causes = obj.get("spec") or {}, []
    template = spec.get("template")
    if not isinstance(template, dict) or not (template.get("spec") or {}).get("containers"):
        return [("spec.template.spec.containers", "Required value")]
    policy = (template.get("spec") or {}).get("restartPolicy")
    if policy not in ("Never", "OnFailure"):
        causes.append(("spec.template.spec.restartPolicy", f'Unsupported value: "{policy}": supported values: '
                       '"OnFailure", "Never"'))  # fmt: skip
    limit = spec.get("backoffLimit")
    if not isinstance(limit, int) or limit < 0:
        causes.append(("spec.backoffLimit", f"Invalid value: {limit!r}: must be greater than or equal to 0"))
    if old is not None and (old.get("spec") or {}).get("template") != template:
        causes.append(("spec.template", "Invalid value: field is immutable"))
    return causes


def binding_valid(obj: dict[str, Any], old: dict[str, Any] | None) -> Causes:
    ref = obj.get("roleRef")
    if not isinstance(ref, dict) or not ref.get("kind") or not ref.get("name"):
        return [("roleRef", "Required value: kind and name")]
    if old is not None and old.get("roleRef") != ref:
        return [("roleRef", "Invalid value: cannot change roleRef")]
    return []
