"""``kibench simulate``: a scenario played on a model of the platform instead of the platform.

In: a validated ``Scenario`` (the same file ``kibench run`` takes) and ``SimOptions`` (mode, seed,
model constants).  Out: a run folder marked ``platform: simulated`` with the files a measured run has
(scenario.yaml, run.json, requests.parquet/, load-w0.json, timeline.parquet, events.jsonl), then
analysed and reported by the same code (summary.json, per_second.parquet, report.*), so ``kibench
report`` and ``kibench compare`` work on it.  docs/simulate.md describes the models and their fidelity.

It sits beside ``harness.run`` in the layers: it reads the stage packages' models (the service's
device profiles, the load's rate shapes and arrival processes, the platform's HPA manifest and
sample builder, the chaos fault plan) so that nothing is re-implemented, and no stage imports it.
"""

from harness.simulate.calibrate import Calibration
from harness.simulate.calibrate import calibrate as calibrate_from
from harness.simulate.curve import LatencyCurve, load_curve
from harness.simulate.driver import SimOptions, SimOutcome, simulate
from harness.simulate.refuse import SimulationRefused, check_simulable

__all__ = [
    "Calibration",
    "calibrate_from",
    "LatencyCurve",
    "load_curve",
    "SimOptions",
    "SimOutcome",
    "SimulationRefused",
    "check_simulable",
    "simulate",
]
