"""``harness.chaos.kube``: kibench's Chaos Toolkit activities, for the faults Kubernetes has no verb for.

Use it as ``provider: {type: python, module: harness.chaos.kube, func: NAME}``.  Everything Kubernetes
does have a verb for (kill a pod, drain, cordon, scale, roll out, delete a node) is chaostoolkit-kubernetes'
(``chaosk8s.*``) in kibench's experiments; these work through the same Kubernetes API, with the same
kubeconfig (``kibench_kubeconfig`` from ``kibench run``, else ``$KUBECONFIG``), chaosk8s's names and
selection arguments, and the namespace from ``kibench_namespace`` (else ``$KIBENCH_NAMESPACE``, ``default``):

* ``fail_node``, ``recover_node`` (``nodes``): hard node loss through the embedded cluster's private API
  (the embedded cluster only);
* ``hang_pods``, ``inject_latency``, ``inject_errors``, ``reset_faults`` (``admin``): the reference
  service's admin API on each pod (its token from the pod's Secret);
* ``deployment_name``, ``rollout_complete``, ``slo_holds`` (``probes``).
"""

from harness.chaos.kube.admin import hang_pods, inject_errors, inject_latency, reset_faults
from harness.chaos.kube.nodes import fail_node, recover_node
from harness.chaos.kube.probes import deployment_name, rollout_complete, slo_holds

__all__ = [
    "deployment_name",
    "fail_node",
    "hang_pods",
    "inject_errors",
    "inject_latency",
    "recover_node",
    "reset_faults",
    "rollout_complete",
    "slo_holds",
]
