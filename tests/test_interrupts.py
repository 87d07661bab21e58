"""The short version of bench/interrupts.py: SIGINT, SIGTERM and SIGKILL of `kibench run` while its load runs.

Each signal once, at a random moment of the first 4 s of the load (faults under way: a latency spike
from 0.5 s, an error burst from 2 s), the three runs at once to keep the wall time down.  After each
(bench/interrupts.py says how it is checked): exit 130 (SIGKILL: -9), no process the run recorded
alive and no socket they listened on still listening, every started experiment's rollbacks ran (not
after SIGKILL), the folder is reported (``kibench report`` after SIGKILL; after the others the run's own
report, the same code, to save a few seconds of CPU) and the rows of every complete part are counted.
The bench interrupts 20 times per signal, also while the run deploys and while it ends.
"""

from __future__ import annotations

import random

import pytest

from bench.interrupts import run_trials

pytestmark = pytest.mark.slow

SHORT = ["load.duration=4s", "faults[0].at=0.5s", "faults[1].at=2s", "service.replicas=1"]


def test_every_signal_at_a_random_moment_of_the_load_leaves_nothing_and_loses_nothing():
    seed = random.randrange(1 << 30)
    signals = ["SIGINT", "SIGTERM", "SIGKILL"]
    trials = run_trials(signals, 1, 4.0, seed, sets=SHORT, parallel=3, after="load", report_after={"SIGKILL"})
    failed = [t.line() for t in trials if not t.ok]
    assert not failed, f"seed {seed}:\n" + "\n".join(failed)
