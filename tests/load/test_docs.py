"""Every scenario example in docs/load.md validates, and every load/target field has a row there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harness.scenario import LoadSpec, TargetSpec, validate

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "load.md").read_text(encoding="utf-8")
EXAMPLES = [block for block in re.findall(r"```yaml\n(.*?)```", DOC, re.S) if block.startswith("name:")]


def test_the_page_has_an_example_of_every_shape_and_process():
    text = "\n".join(EXAMPLES)
    for kind in ("spike", "step", "diurnal", "trace", "completions", "gamma", "poisson", "closed", "locustfile"):
        assert kind in text, kind


@pytest.mark.parametrize("block", EXAMPLES, ids=lambda b: b.split("\n", 1)[0].removeprefix("name: "))
def test_example_validates(block, monkeypatch):
    monkeypatch.chdir(ROOT)  # relative paths (locustfile) are relative to the working directory
    scenario = validate(yaml.safe_load(block), "docs/load.md")
    assert scenario.load.duration_s > 0
    if scenario.load.locustfile:
        assert Path(scenario.load.locustfile).is_file()


@pytest.mark.parametrize("field", [*LoadSpec.model_fields, *TargetSpec.model_fields])
def test_every_field_is_documented(field):
    assert f"`{field}`" in DOC or f"`target.{field}`" in DOC or f"`{field}` +" in DOC
