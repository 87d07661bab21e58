"""Every file in examples/ works against the reference service as it is, and the README points to each.

The scenarios run end to end on the local platform at a short duration (``--set load.duration=6s``),
with their own SLOs and the default ones, and must pass; the locustfile runs through its scenario.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.scenario import ClassicProfileSpec, LLMProfileSpec, load_scenario

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_example_is_in_the_readme_and_every_locustfile_has_a_scenario():
    files = sorted(p for p in (ROOT / "examples").iterdir() if p.is_file())
    assert {p.suffix for p in files} == {".yaml", ".py"} and len(EXAMPLES) >= 3
    for path in files:
        assert f"examples/{path.name}" in README, f"README.md does not mention examples/{path.name}"
    used = {yaml.safe_load(p.read_text())["load"].get("locustfile") for p in EXAMPLES}
    for locustfile in (ROOT / "examples").glob("*.py"):
        assert f"examples/{locustfile.name}" in used, f"no example scenario runs {locustfile.name}"


def test_the_examples_cover_a_locustfile_completions_and_a_custom_profile(monkeypatch):
    monkeypatch.chdir(ROOT)  # a locustfile path is relative to the working directory
    scenarios = [load_scenario(p) for p in EXAMPLES]
    assert any(s.load.locustfile and Path(s.load.locustfile).is_file() for s in scenarios)
    assert any(s.load.workload.kind == "completions" for s in scenarios)
    assert any(isinstance(s.service.profile, ClassicProfileSpec | LLMProfileSpec) for s in scenarios)


@pytest.mark.slow
@pytest.mark.exclusive  # the locustfile's closed-loop users take whatever CPU there is
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_green(path: Path, tmp_path: Path):
    argv = [sys.executable, "-c", "from harness.cli import main; main()", "run", str(path.relative_to(ROOT))]
    argv += ["--set", "load.duration=6s", "--results", str(tmp_path)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["metrics"]["requests"] > 10 and summary["metrics"]["error_rate"] == 0.0
    assert any(s["default"] for s in summary["slos"]) and all(s["pass"] for s in summary["slos"])
    assert summary["warnings"] == [], summary["warnings"]
