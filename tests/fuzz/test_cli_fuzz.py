"""The command line on generated input: ``kibench validate`` and ``kibench run --dry-run`` exit 0 or 2 with
an ``error:`` line naming the file, never with a traceback; valid-but-extreme scenarios dry-run cleanly.

``kibench`` runs in this process through the console script's ``main`` (tests/fuzz/support.py), so an
exception that escapes it fails the test with its traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import strategies as s
from tests.fuzz.support import CliResult, cli, examples, in_root


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-cli")


def _write(folder: Path, doc: object) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def _clean_exit(result: CliResult, path: Path) -> None:
    assert result.code in (0, 2), result
    assert "Traceback" not in result.out + result.err
    if result.code == 2:
        first = result.err.strip().splitlines()[0] if result.err.strip() else ""
        usage = "Usage:" in result.err or "Error:" in result.err  # typer's own usage errors
        assert usage or (first.startswith("error: ") and str(path) in first), result


@examples(60)
@given(doc=s.scenarios(extreme=True))
def test_extreme_but_valid_scenarios_dry_run_cleanly(scratch, doc):
    path = _write(scratch, doc)
    with in_root():
        result = cli("run", str(path), "--dry-run", "--results", str(scratch / "results"))
    assert result.code == 0, result
    assert f"dry run of {doc['name']!r}: nothing was started" in result.out
    assert not (scratch / "results").exists(), "a dry run starts nothing and writes nothing"


@examples(60)
@given(case=s.mutated(st.sampled_from(s.seeds())), command=st.sampled_from([("validate",), ("run", "--dry-run")]))
def test_broken_scenarios_exit_2_naming_the_file(scratch, case, command):
    doc, _, _ = case
    path = _write(scratch, doc)
    with in_root():
        result = cli(command[0], str(path), *command[1:], "--results", str(scratch / "results"))
    _clean_exit(result, path)


@examples(40)
@given(base=st.sampled_from(s.seeds()), sets=s.overrides())
def test_set_overrides_on_the_command_line(scratch, base, sets):
    path = _write(scratch, base)
    with in_root():
        result = cli("validate", str(path), *(arg for value in sets for arg in ("--set", value)))
    _clean_exit(result, path)
