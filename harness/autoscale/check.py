"""``python -m harness.autoscale.check [FILE...]``: run HPA case files and report each case.

In: case-file paths (none: the upstream tables shipped in ``harness/autoscale/cases``).  Out: one
line per case on stdout, ``name: expected N, got M`` (mismatches marked ``MISMATCH`` with every
differing field), a summary line, and the exit status: 0 all match, 1 a mismatch, 2 a malformed file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from harness.autoscale.casefile import Case, CaseResult, evaluate, load_case_file, shipped_case_files
from harness.errors import EXIT_BAD_INPUT, EXIT_OK, EXIT_SLO_FAILED, InputError


def _line(result: CaseResult) -> str:
    head = f"{result.name}: expected {result.expected}, got {result.got}"
    if result.ok:
        return head
    return f"{head}  <-- MISMATCH ({'; '.join(result.mismatches)})"


def _load(paths: Sequence[Path]) -> list[tuple[Path, list[Case]]]:
    """Validate every file before running any case, so a bad file costs no partial output."""
    return [(path, load_case_file(path)) for path in paths]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.autoscale.check",
        description="Evaluate HPA case files against harness.autoscale (exit 1 on a mismatch).",
    )
    parser.add_argument("files", nargs="*", type=Path, help="case files (default: the shipped upstream cases)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only mismatches and the summary")
    args = parser.parse_args(argv)
    try:
        loaded = _load(args.files or shipped_case_files())
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    total = failed = 0
    for path, cases in loaded:
        if not args.quiet:
            print(f"# {path}")
        for case in cases:
            result = evaluate(case)
            total += 1
            failed += not result.ok
            if not (args.quiet and result.ok):
                print(_line(result))
    print(f"{total} cases, {total - failed} match, {failed} mismatch")
    return EXIT_SLO_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
