"""Capacity: the search for one replica's rate at the SLO and the planner (docs/capacity.md).

Pure logic (search.py, fit.py, margins.py, confirm.py, planner.py, lag.py) and the writers of
``<run>/capacity/`` (outputs.py, plots.py).  The probes themselves are run by ``harness.capacity_run``,
which sits above the stages: this package imports no other stage.
"""

from harness.capacity.confirm import boundary_shape, confirmed, margin_intervals
from harness.capacity.margins import margin
from harness.capacity.model import Boundary, ProbeRecord
from harness.capacity.outputs import write_outputs
from harness.capacity.planner import PlanInputs
from harness.capacity.search import NoRateMeetsSlo, SearchSettings, bracket, next_rate, predicted_root

__all__ = [
    "Boundary",
    "NoRateMeetsSlo",
    "PlanInputs",
    "ProbeRecord",
    "SearchSettings",
    "boundary_shape",
    "bracket",
    "confirmed",
    "margin",
    "margin_intervals",
    "next_rate",
    "predicted_root",
    "write_outputs",
]
