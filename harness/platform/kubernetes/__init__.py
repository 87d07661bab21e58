"""The Kubernetes platform driver: one code path for the embedded cluster and any real one.

``manifests`` renders the scenario's service as Deployment, Service, HorizontalPodAutoscaler
(autoscaling/v2) and PodDisruptionBudget; ``driver.KubernetesDriver`` applies them with the official
client and follows the cluster through watches (``informer``), turning what it sees into the run's
events (``translate``) and its state (``observed``).  Every write goes through ``guard.Guard`` (``rest``
makes the calls), which acts only on objects carrying the run's label (``scope``).
``cluster.ClusterPlatform`` is ``platform.kind: kubernetes``: the kubeconfig and context (``kubeconfig``),
the run's own namespace and its clean-up; ``plan`` is its ``--dry-run``; during its run ``usage`` polls the
pods' metrics.k8s.io PodMetrics, and at the end ``resource_record`` writes usage.parquet (GPU columns from a
Prometheus: ``prometheus``) and resources.json (the VerticalPodAutoscaler's recommendation, warnings).
``kibench cluster run`` (``clusterrun``, ``submit``) runs kibench itself as a Job (``harness_job``: the least
RBAC, the scenario in a ConfigMap; ``harness_kustomize``: the same as ``deploy/harness/``), which works
through its service account (``incluster``) and sends its run folder back through its log (``runcopy``);
with ``load.placement: cluster`` its Locust workers are a Deployment beside it (``load_workers``).
"""
