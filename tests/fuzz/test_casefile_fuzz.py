"""HPA case files (harness/autoscale/casefile.py), the shipped upstream cases broken one field at a time and
as text: ``load_case_file`` rejects with an InputError (exit 2) naming the file, the case and the field;
``python -m harness.autoscale.check`` exits 0, 1 or 2 and never with a traceback, whatever it evaluates."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from harness.autoscale import check
from harness.autoscale.casefile import load_case_file
from harness.errors import InputError
from tests.fuzz import strategies as s
from tests.fuzz.support import examples, rejected_properly

CASES = s.shipped_cases()
CASE_LISTS = st.lists(st.sampled_from(CASES), min_size=1, max_size=3, unique_by=lambda c: c["name"])


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-cases")


def _check(path: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = check.main([str(path), "--quiet"])
    return code, out.getvalue(), err.getvalue()


def _properly(path: Path) -> None:
    outcome = rejected_properly(lambda: load_case_file(path))
    code, out, err = _check(path)
    if isinstance(outcome, InputError):
        assert str(outcome).startswith(f"{path}: "), outcome
        assert code == 2 and err.startswith(f"error: {path}: "), (code, err)
    else:
        assert code in (0, 1) and "cases," in out, (code, out, err)


@examples(200)
@given(case=s.mutated(CASE_LISTS))
def test_a_broken_case_field_is_rejected_naming_the_case_and_field(scratch, case):
    cases, how, where = case
    path = scratch / "cases.yaml"
    path.write_text(yaml.safe_dump(cases, sort_keys=False), encoding="utf-8")
    _properly(path)
    outcome = rejected_properly(lambda: load_case_file(path))
    if isinstance(outcome, InputError) and isinstance(cases, list) and where and isinstance(where[0], int):
        message = str(outcome).removeprefix(f"{path}: ")
        assert message.startswith(("case [", "(top level)")) or "is used twice" in message, outcome


@examples(100)
@given(raw=s.broken_text(CASE_LISTS))
def test_a_broken_case_file_text_is_rejected_never_a_traceback(scratch, raw):
    path = scratch / "text.yaml"
    path.write_bytes(raw)
    _properly(path)
