"""The scenario file: pydantic models, loading with ``--set`` overrides, validation errors, JSON Schema.

In: a YAML file path and optional ``path.to.field=VALUE`` overrides.  Out: a validated ``Scenario``
(durations already converted to seconds) or a ``ScenarioError`` (exit 2) whose message names the
file, the field path and the fix.  ``json_schema()`` exports the schema for editors and CI.

One module per concern; every public name is re-exported here, so ``from harness.scenario import X`` is the
way in:

    units      Duration, IntOrPercent, parse_duration (and the base model every section shares)
    platform   PlatformSpec, PodSpec, probes, rollout, PDB; check_service_url
    nodes      NodesSpec, GpuSpec, MIG_PROFILES, NodeAutoscalerSpec
    hpa        HpaSettings and its metrics, rules and policies
    service    ServiceSpec and the device profile specs (named profiles: harness.profiledata)
    shapes     the arrival-rate shapes, each with its duration_s; Shape / AnyShape; read_trace_csv
    load       LoadSpec, the workloads, TargetSpec
    faults     FaultSpec
    slos       SloSpec
    cost       CostSpec
    capacity   CapacitySpec, CapacityPlanSpec
    spec       Scenario, the sections together
    loading    load_scenario, validate, apply_override, json_schema, dump
"""

from harness.scenario.capacity import CapacityPlanSpec, CapacitySpec
from harness.scenario.cost import CostSpec
from harness.scenario.faults import FaultSpec
from harness.scenario.hpa import HpaBehavior, HpaMetric, HpaPolicy, HpaRules, HpaSettings
from harness.scenario.load import CompletionsWorkload, Lengths, LoadSpec, PredictWorkload, TargetSpec, Workload
from harness.scenario.loading import apply_override, dump, json_schema, load_scenario, validate
from harness.scenario.nodes import MIG_PROFILES, GpuSpec, NodeAutoscalerSpec, NodesSpec
from harness.scenario.platform import (
    DisruptionBudgetSpec,
    PlatformSpec,
    PodSpec,
    ProbeSpec,
    ProbesSpec,
    RolloutSpec,
    check_service_url,
)
from harness.scenario.service import ClassicProfileSpec, LLMProfileSpec, ProfileSpec, ServiceSpec
from harness.scenario.shapes import (
    AnyShape,
    ConstantShape,
    Shape,
    SineShape,
    SpikeShape,
    Stage,
    StagesShape,
    StepShape,
    TraceShape,
    read_trace_csv,
    shape_duration_s,
)
from harness.scenario.slos import SloSpec
from harness.scenario.spec import Scenario
from harness.scenario.units import MEASURED_MAX_SCALE, SIMULATED_MAX_SCALE, Duration, IntOrPercent, parse_duration

__all__ = [
    "MEASURED_MAX_SCALE",
    "MIG_PROFILES",
    "SIMULATED_MAX_SCALE",
    "AnyShape",
    "CapacityPlanSpec",
    "CapacitySpec",
    "ClassicProfileSpec",
    "CompletionsWorkload",
    "ConstantShape",
    "CostSpec",
    "DisruptionBudgetSpec",
    "Duration",
    "FaultSpec",
    "GpuSpec",
    "HpaBehavior",
    "HpaMetric",
    "HpaPolicy",
    "HpaRules",
    "HpaSettings",
    "IntOrPercent",
    "LLMProfileSpec",
    "Lengths",
    "LoadSpec",
    "NodeAutoscalerSpec",
    "NodesSpec",
    "PlatformSpec",
    "PodSpec",
    "PredictWorkload",
    "ProbeSpec",
    "ProbesSpec",
    "ProfileSpec",
    "RolloutSpec",
    "Scenario",
    "ServiceSpec",
    "Shape",
    "SineShape",
    "SloSpec",
    "SpikeShape",
    "Stage",
    "StagesShape",
    "StepShape",
    "TargetSpec",
    "TraceShape",
    "Workload",
    "apply_override",
    "check_service_url",
    "dump",
    "json_schema",
    "load_scenario",
    "parse_duration",
    "read_trace_csv",
    "shape_duration_s",
    "validate",
]
