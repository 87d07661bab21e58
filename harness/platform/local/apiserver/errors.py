"""Kubernetes-style errors: ``ApiError`` and the ``kind: Status`` documents it becomes.

In: a code, a reason and a message worded like kube-apiserver's (``pods "x" not found``).
Out: ``ApiError`` (raised by the store and the handlers) and ``status_body`` / ``success_status`` dicts that the
HTTP app serialises.  The constructors below keep the wording of each common failure in one place.

    ApiError(code, reason, message, details)
      400 BadRequest · 401 Unauthorized · 403 Forbidden · 404 NotFound · 405 MethodNotAllowed · 406 NotAcceptable
      409 AlreadyExists / Conflict · 410 Gone · 413 RequestEntityTooLarge · 415 UnsupportedMediaType
      422 Invalid · 429 TooManyRequests · 500 InternalError
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error the API answers as a ``kind: Status`` document with ``status: Failure``."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        return status_body(self.code, self.reason, self.message, self.details)


def status_body(code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A failure ``Status`` document."""
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


def success_status(code: int = 200, details: dict[str, Any] | None = None) -> dict[str, Any]:
    """A success ``Status`` document (node deletion, eviction)."""
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code}
    if details:
        body["details"] = details
    return body


def _details(qualified: str, name: str, **extra: Any) -> dict[str, Any]:
    plural, _, group = qualified.partition(".")
    out: dict[str, Any] = {"name": name, "kind": plural}
    if group:
        out["group"] = group
    out.update(extra)
    return out


def not_found(qualified: str, name: str) -> ApiError:
    """``pods "x" not found`` (``qualified`` is the resource with its group: ``deployments.apps``)."""
    return ApiError(404, "NotFound", f'{qualified} "{name}" not found', _details(qualified, name))


def already_exists(qualified: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified} "{name}" already exists', _details(qualified, name))


def conflict(qualified: str, name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(qualified, name))


def invalid(kind: str, name: str, causes: list[tuple[str, str]], group: str = "") -> ApiError:
    """422 Invalid; ``causes`` are (field, message) pairs such as ("spec.selector", "Required value")."""
    text = ", ".join(f"{field}: {message}" for field, message in causes)
    details: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes],
    }
    if group:
        details["group"] = group
    prefix = f"{kind}.{group}" if group else kind
    return ApiError(422, "Invalid", f'{prefix} "{name}" is invalid: {text}', details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def gone(message: str) -> ApiError:
    return ApiError(410, "Gone", message)


def method_not_allowed(message: str = "the server does not allow this method on the requested resource") -> ApiError:
    return ApiError(405, "MethodNotAllowed", message)


def resource_not_found() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")
