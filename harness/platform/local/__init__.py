"""The embedded local platform: a small cluster in one daemon process on loopback (docs/local-platform.md).

``daemon`` (process entry) runs the control loops and two HTTP servers:
``supervisor`` (Deployment, ReplicaSets, scheduler and kubelet: pods, probes, restarts, termination),
``nodeops`` (node failure, cordon, drain with the PDB, removal), ``hpa_controller`` with
``metrics_scrape`` (the HPA on pod metrics and CPU), ``node_autoscaler`` (cluster-autoscaler),
``api`` (the JSON API, docs/local-api.md) and ``balancer`` (the Service).  Pure rules live in
``nodes`` (scheduling), ``probes`` (probe thresholds), ``pods`` (back-off) and ``rollout``
(rolling updates, PDB arithmetic).  ``client.LocalPlatform`` starts the daemon and implements
``harness.model.Platform`` over its API.
"""
