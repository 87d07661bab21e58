"""Chaos Toolkit integration: scheduled experiments under load, and kibench's own activities.

In: the scenario's ``faults`` (``plan_faults`` loads and validates every experiment before anything
starts) and, during the run, a ``ChaosContext`` of callbacks and paths from the orchestrator.
Out: ``ChaosRun`` runs each experiment at its time on a thread through chaoslib, keeps every journal
in ``<run>/chaos/`` and reports each activity as an event; rollbacks always run.

Experiments use chaostoolkit-kubernetes (``chaosk8s``) for everything Kubernetes has a verb for, and
``harness.chaos.kube`` (kibench's activity module) for the rest: hard node loss, the reference
service's admin faults, ``slo_holds``.  Both reach the run's cluster through its kubeconfig.
``fault_access`` says which RBAC rules a plan's activities need (the Role of ``kibench cluster run``'s Job).
This package never imports the other stages: the orchestrator hands it callbacks and typed data.
"""

from harness.chaos.access import FaultAccess, fault_access
from harness.chaos.plan import HARNESS_KEYS, FaultPlan, PlannedFault, plan_faults, plan_lines, refuse_embedded_only
from harness.chaos.runner import ChaosContext, FaultOutcome, chaos_context
from harness.chaos.schedule import ChaosRun

__all__ = [
    "HARNESS_KEYS",
    "ChaosContext",
    "ChaosRun",
    "FaultAccess",
    "FaultOutcome",
    "FaultPlan",
    "PlannedFault",
    "chaos_context",
    "fault_access",
    "plan_faults",
    "refuse_embedded_only",
    "plan_lines",
]
