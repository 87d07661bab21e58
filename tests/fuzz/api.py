"""Fuzzing a live HTTP API against its own OpenAPI document with schemathesis (4.x, its Python API).

In: a loaded schemathesis schema, the base URL of the server that served it, the example count per
operation and mode (``support.examples``: ``KIBENCH_FUZZ_SCALE`` multiplies it), headers to send (the
bearer token) and transport options (``verify`` for a private CA).  Out: one line per operation and
generation mode whose shrunk failing case broke a check (empty: all passed).

Every operation is fuzzed with data that fits the document (positive) and, when it takes input, with
data that does not (negative); every response goes through all of schemathesis' checks
(``case.call_and_validate()``'s default set): no 5xx, the status code, content type, headers and body
match the document, valid data is accepted and invalid data rejected, an operation behind a bearer token
refuses a request without it, and no undocumented method is served.  ``excused`` narrows one check: a
refusal of schema-valid data that the document states in words (``prompt + max_tokens`` over an LLM's
context) is not counted against ``positive_data_acceptance``.  (schemathesis' pytest plugin is not
used: its lazy loader does not run on pytest 9.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from hypothesis import given
from schemathesis import BaseSchema, Case, CheckContext, GenerationMode, Response
from schemathesis.specs.openapi.checks import positive_data_acceptance

from tests.fuzz.support import examples

Excuse = Callable[[Case, Response], bool]


def _positive_data_acceptance(excused: Excuse) -> Callable[[CheckContext, Response, Case], bool | None]:
    """schemathesis' ``positive_data_acceptance``, except for a refusal ``excused`` says the document
    states in words (a rule between fields that JSON Schema cannot express)."""

    def check(ctx: CheckContext, response: Response, case: Case) -> bool | None:
        if excused(case, response):
            return None
        result: bool | None = positive_data_acceptance(ctx, response, case)
        return result

    return check


def fuzz(schema: BaseSchema, base_url: str, n: int, *, skip: Iterable[str] = (), headers: dict[str, str] | None = None,
         excused: Excuse | None = None, **transport: Any) -> list[str]:  # fmt: skip
    """Fuzz every operation of ``schema`` but those labelled in ``skip`` (``"POST /admin/crash"``)."""
    failures: list[str] = []
    # 413 (a body over the server's size limit) is a rejection too: invalid data may be refused with it
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = sorted({*rejection.expected_statuses, "413"})
    checks: dict[str, Any] = {}
    if excused is not None:
        checks = {"excluded_checks": [positive_data_acceptance],
                  "additional_checks": [_positive_data_acceptance(excused)]}  # fmt: skip
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.label in skip:
            continue
        takes_input = bool(operation.body) or any(True for _ in operation.iter_parameters())
        for mode in GenerationMode:
            if mode.is_negative and not takes_input:
                continue

            @given(case=operation.as_strategy(generation_mode=mode))
            @examples(n)
            def check(case: Case) -> None:
                case.call_and_validate(base_url=base_url, headers=headers, timeout=30, **checks, **transport)

            try:
                check()
            except Exception as exc:  # noqa: BLE001 - every failure is reported, with its shrunk case
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    return failures
