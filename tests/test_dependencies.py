"""Every package imported directly is declared in pyproject.toml; bounded ones say why.

harness/ may import only core dependencies and optional extras (``torch``, ``tls``); tests/ and bench/
may import those and the ``dev`` extra.  A package that only arrives as another package's dependency
breaks the day that package drops it, so a direct import must be declared even when it installs anyway.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from functools import cache
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_PARTY = {"harness", "tests", "bench", "loadgen"}  # bench/co_check.py imports its sibling bench/loadgen.py


def _name(requirement: str) -> str:
    """``"uvicorn[standard]>=0.30; ..."`` → ``"uvicorn"`` (normalised as PEP 503 does)."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match[1]).lower()


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _imports(folder: str) -> dict[str, str]:
    """Top-level third-party modules imported anywhere under ``folder`` → one file importing each."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in FIRST_PARTY:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


@cache
def _installed() -> dict[str, list[str]]:
    return packages_distributions()


def _distributions(module: str) -> set[str]:
    """The distributions that provide ``module`` (its own name when it is not installed, e.g. torch)."""
    return {_name(d) for d in _installed().get(module, [module])}


def _undeclared(folder: str, declared: set[str]) -> list[str]:
    return [
        f"{module} (imported by {path}; provided by {', '.join(sorted(_distributions(module)))})"
        for module, path in _imports(folder).items()
        if not _distributions(module) & declared
    ]


def test_harness_imports_only_declared_packages():
    project = _project()
    extras = project["optional-dependencies"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for name, reqs in extras.items() if name != "dev" for r in reqs}
    assert not _undeclared("harness", declared), "declare these in pyproject.toml dependencies"


def test_tests_and_benches_import_only_declared_packages():
    project = _project()
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for reqs in project["optional-dependencies"].values() for r in reqs}
    missing = [*_undeclared("tests", declared), *_undeclared("bench", declared), *_undeclared("examples", declared)]
    assert not missing, "declare these in pyproject.toml (the dev extra for test-only tools)"


def test_every_upper_bound_says_why():
    lines = (ROOT / "pyproject.toml").read_text(encoding="utf-8").splitlines()
    bounded = [line for line in lines if re.search(r'^\s*"[^"]*<[^=]', line)]
    assert bounded, "expected the bounded packages (geventhttpclient, chaostoolkit-lib, ...)"
    for line in bounded:
        assert "#" in line.split('",', 1)[-1], f"an upper bound needs a comment saying why: {line.strip()}"
    names = {_name(line.strip().strip('"')) for line in bounded}
    assert {"geventhttpclient", "chaostoolkit-lib"} <= names
