"""The embedded platform: a small cluster that speaks the Kubernetes API, in one daemon on loopback.

``daemon`` (process entry, ``python -m harness.platform.local``) serves ``apiserver`` (the Kubernetes
API subset: store, selectors, watches, Tables, eviction; docs/local-api.md) and ``private_api`` (what
Kubernetes has no verb for) on one port, and runs ``cluster``'s controllers behind them:
``workloads`` (Deployments, ReplicaSets), ``scheduler``, ``kubelet`` (pods as local processes via
``images``; ``probes``, ``pods``), ``nodelifecycle``, ``disruption`` (PDB status), ``hpa_controller``
with ``metrics_scrape``, ``node_autoscaler`` and ``balancer`` (the Services).  Pure rules live in
``rollout`` (rolling-update arithmetic) and ``objects`` (conditions, selectors, quantities).
``client.LocalPlatform`` starts the daemon and drives it with ``harness.platform.kubernetes``.
"""
