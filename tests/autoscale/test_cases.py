"""Every shipped case file (upstream's test tables, ported) evaluates to what upstream expects."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.autoscale.casefile import evaluate, load_case_file, shipped_case_files

SHIPPED = shipped_case_files()


def test_the_ported_tables_are_shipped() -> None:
    names = {p.name for p in SHIPPED}
    assert {"horizontal.yaml", "normalization.yaml", "replica_calculator.yaml"} <= names
    cases = [c for path in SHIPPED for c in load_case_file(path)]
    assert len(cases) >= 200
    all_names = [c.name for c in cases]
    assert len(all_names) == len(set(all_names)), "case names must be unique across the shipped files"
    assert all(name.startswith("Test") for name in all_names), "each case is named after its upstream test"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: Path(p).stem)
def test_every_shipped_case_matches(path: Path) -> None:
    results = [evaluate(case) for case in load_case_file(path)]
    mismatched = [f"{r.name}: {'; '.join(r.mismatches)}" for r in results if not r.ok]
    assert not mismatched, "\n".join(mismatched)
