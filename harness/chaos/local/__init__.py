"""``harness.chaos.local``: the Chaos Toolkit provider module for the local platform.

Use it in an experiment as ``provider: {type: python, module: harness.chaos.local, func: NAME}``.
Functions mirror chaostoolkit-kubernetes (chaosk8s) names and arguments where the concept exists
(see ``actions`` and ``probes``); the platform's address comes from the experiment configuration
``kibench_api_url`` (or the ``KIBENCH_API_URL`` environment variable), so experiments run the same
under ``kibench run`` and under ``chaos run`` against a running ``python -m harness.platform.local``.
"""

from harness.chaos.local.actions import (
    cordon_node,
    delete_nodes,
    delete_pods,
    drain_nodes,
    fail_node,
    hang_pods,
    inject_errors,
    inject_latency,
    reset_faults,
    rollout_deployment,
    scale_deployment,
    terminate_pods,
    uncordon_node,
)
from harness.chaos.local.probes import (
    all_nodes_are_ok,
    count_pods,
    deployment_available_and_healthy,
    deployment_fully_available,
    pods_in_phase,
    slo_holds,
)

__all__ = [
    "all_nodes_are_ok",
    "cordon_node",
    "count_pods",
    "delete_nodes",
    "delete_pods",
    "deployment_available_and_healthy",
    "deployment_fully_available",
    "drain_nodes",
    "fail_node",
    "hang_pods",
    "inject_errors",
    "inject_latency",
    "pods_in_phase",
    "reset_faults",
    "rollout_deployment",
    "scale_deployment",
    "slo_holds",
    "terminate_pods",
    "uncordon_node",
]
