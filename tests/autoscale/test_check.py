"""``python -m harness.autoscale.check``: exit 0 when cases match, 1 on a mismatch, 2 on a bad file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOOD_CASE = """\
- name: TestScaleUp
  config: {scale_up_limit_factor: 8}
  spec:
    min_replicas: 2
    max_replicas: 6
    metrics:
      - {type: Resource, name: cpu, utilization_pct: 30}
  current_replicas: 3
  pods:
    - {name: p0, values_milli: {cpu: 300}, requests_milli: {cpu: 1000}}
    - {name: p1, values_milli: {cpu: 500}, requests_milli: {cpu: 1000}}
    - {name: p2, values_milli: {cpu: 700}, requests_milli: {cpu: 1000}}
  now_s: 100
  expected: {replicas: EXPECTED, reason: DesiredWithinRange}
"""


def check(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.autoscale.check", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_matching_cases_exit_0(tmp_path: Path) -> None:
    result = check(write(tmp_path, "good.yaml", GOOD_CASE.replace("EXPECTED", "5")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "TestScaleUp: expected 5, got 5" in result.stdout
    assert "MISMATCH" not in result.stdout


def test_a_wrong_expectation_exits_1_and_is_marked(tmp_path: Path) -> None:
    good = write(tmp_path, "good.yaml", GOOD_CASE.replace("EXPECTED", "5"))
    bad = write(tmp_path, "bad.yaml", GOOD_CASE.replace("EXPECTED", "4"))
    result = check(good, bad)
    assert result.returncode == 1, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "expected 4" in line)
    assert line.startswith("TestScaleUp: expected 4, got 5") and "MISMATCH" in line
    assert "2 cases, 1 match, 1 mismatch" in result.stdout


def test_a_malformed_case_exits_2_naming_file_and_field(tmp_path: Path) -> None:
    text = GOOD_CASE.replace("EXPECTED", "5").replace("utilization_pct: 30", "utilization_pct: lots")
    path = write(tmp_path, "malformed.yaml", text)
    result = check(path)
    assert result.returncode == 2
    assert str(path) in result.stderr
    assert "'TestScaleUp'" in result.stderr and "spec.metrics.0.utilization_pct" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""  # nothing is evaluated when any file is bad


def test_inconsistent_fields_exit_2(tmp_path: Path) -> None:
    text = GOOD_CASE.replace("EXPECTED", "5").replace("min_replicas: 2", "min_replicas: 9")
    result = check(write(tmp_path, "minmax.yaml", text))
    assert result.returncode == 2
    assert "spec" in result.stderr and "min_replicas <= max_replicas" in result.stderr


def test_unreadable_or_non_yaml_files_exit_2(tmp_path: Path) -> None:
    missing = check(tmp_path / "nope.yaml")
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
    broken = check(write(tmp_path, "broken.yaml", "- name: [unclosed\n"))
    assert broken.returncode == 2 and "not valid YAML" in broken.stderr
    mapping = check(write(tmp_path, "mapping.yaml", "name: TestScaleUp\n"))
    assert mapping.returncode == 2 and "a YAML list of cases" in mapping.stderr


def test_without_arguments_the_shipped_cases_run() -> None:
    result = check("-q")
    assert result.returncode == 0, result.stdout[-2000:]
    assert "0 mismatch" in result.stdout.splitlines()[-1]


def test_the_documented_example_case_holds(tmp_path: Path) -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "autoscale.md").read_text(encoding="utf-8")
    example = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    result = check(write(tmp_path, "example.yaml", example))
    assert result.returncode == 0, result.stdout + result.stderr
