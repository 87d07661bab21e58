"""What every fuzz test checks, and how it calls kibench the way its users do.

``examples(n)`` bounds each property's example count (``KIBENCH_FUZZ_SCALE`` multiplies it:
docs/reliability.md).  ``rejected_properly`` is the property itself: a call either succeeds or raises a
``HarnessError`` with exit code 2 whose message names the field; anything else (a traceback) fails the
test.  ``cli`` runs ``kibench`` in this process through ``harness.cli.main``, the console script's entry
point, and returns its exit code and output.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

from hypothesis import HealthCheck, event, settings

from harness.errors import EXIT_BAD_INPUT, HarnessError, ScenarioError

ROOT = Path(__file__).resolve().parents[2]
SCALE = max(1, int(os.environ.get("KIBENCH_FUZZ_SCALE", "1")))
T = TypeVar("T")


def examples(n: int) -> settings:
    """Hypothesis settings: ``n`` examples (times KIBENCH_FUZZ_SCALE), no deadline, no example database."""
    return settings(
        max_examples=n * SCALE,
        deadline=None,
        database=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


# Labels pydantic puts into an error's location for the member of a union it tried: they are not fields.
_UNION_LABELS = {"constant", "stages", "spike", "step", "sine", "diurnal", "trace", "classic", "llm", "predict",
                 "completions", "str", "SloSpec", "[key]"}  # fmt: skip
_PART = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def field_path(data: Any, field: str) -> list[str | int] | None:
    """The path an error's field names through ``data`` (union labels skipped), or None when it names
    nothing there.  A missing key of a mapping that exists counts (a required field left out), and so does
    a missing item of a list that exists (a tuple too short) and the field of a shorthand (``platform:
    NAME`` is ``platform: {kind: NAME}``)."""
    return _follow(data, [int(i) if i else name for i, name in _PART.findall(field)])


def _follow(node: Any, parts: list[str | int]) -> list[str | int] | None:
    if not parts:
        return []
    part, rest = parts[0], parts[1:]
    found: list[str | int] | None = None
    if isinstance(node, dict) and (part in node or str(part) in node):
        key = part if part in node else str(part)
        tail = _follow(node[key], rest)
        found = None if tail is None else [key, *tail]
    elif isinstance(node, list) and isinstance(part, int) and part < len(node):
        tail = _follow(node[part], rest)
        found = None if tail is None else [part, *tail]
    elif not rest and (isinstance(node, dict | str) or (isinstance(node, list) and isinstance(part, int))):
        found = [part]
    if found is None and part in _UNION_LABELS:  # a label, also where a key of that name exists (a typo)
        found = _follow(node, rest)
    return found


def rejected_properly(call: Callable[[], T]) -> T | HarnessError:
    """``call()``'s result, or the HarnessError it raised after checking that it is a proper rejection:
    exit code 2 and a message that names the field (or the file, for a problem with the whole file)."""
    try:
        result = call()
    except HarnessError as exc:
        event("rejected")
        assert exc.exit_code == EXIT_BAD_INPUT, f"exit {exc.exit_code} for bad input: {exc}"
        assert str(exc).strip(), "an empty error message"
        if isinstance(exc, ScenarioError):
            whole_file = any(w in exc.problem for w in ("YAML", "mapping", "UTF-8", "nested", "read"))
            assert exc.field or whole_file, f"no field named: {exc}"
        return exc
    event("accepted")
    return result


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def cli(*args: str) -> CliResult:
    """``kibench ARGS`` in this process, through the console script's ``main`` (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code: Any = 0
    argv = mock.patch.object(sys, "argv", ["kibench", *args])
    with argv, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            from harness.cli import main

            main()
        except SystemExit as exc:
            code = exc.code
    return CliResult(code if isinstance(code, int) else (0 if code is None else 1), out.getvalue(), err.getvalue())


@contextlib.contextmanager
def in_root() -> Iterator[None]:
    """Run with the repository root as working directory (scenarios name chaos/*.yaml relative to it)."""
    before = Path.cwd()
    os.chdir(ROOT)
    try:
        yield
    finally:
        os.chdir(before)
