"""HTTP bodies of the service: pydantic models of what clients send, and turning bad input into 4xx.

In: raw ASGI ``receive`` plus the body limit, and a model class.  Out: a validated model, or an
``ApiError`` carrying the status and an OpenAI-style error body
``{"error": {"message", "type", "param", "code"}}``: 413 for a body over the limit, 400 for malformed
JSON, 422 naming the field for a schema violation.  Bad input never becomes a 500.

Request models accept and ignore unknown fields (OpenAI clients send many) and take each field's JSON type
strictly (no ``"16"`` for 16, no ``false`` for 0); response models exist for
the OpenAPI document (``openapi.py``) and for tests that check real responses against it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import from_json

M = TypeVar("M", bound=BaseModel)
MAX_INPUTS = 4096  # rows in one /v1/predict request


class ApiError(Exception):
    """An error response: status, message, the offending field (if any) and a machine-readable code."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


def _integral(value: Any) -> Any:
    """JSON Schema counts ``5.0`` as an integer; strict pydantic would not."""
    return int(value) if type(value) is float and value.is_integer() else value


JsonInt = Annotated[int, BeforeValidator(_integral)]  # an integer as JSON Schema has it: 5 or 5.0, not "5" or true


class _Body(BaseModel):
    # strict: a value of the wrong JSON type is a 422, as the OpenAPI document says (lax mode took
    # ``"seed": false`` as 0 and ``"max_tokens": "16"`` as 16); unknown fields are still ignored
    model_config = ConfigDict(extra="ignore", strict=True)


class PredictRequest(_Body):
    """POST /v1/predict: one request is one item of a batch; ``inputs`` are passed to the model."""

    inputs: list[Any] = Field(default_factory=list, max_length=MAX_INPUTS, description="model inputs (rows)")
    model: str | None = Field(None, description="model id; when given it must be the one served")


class StreamOptions(_Body):
    include_usage: bool = False


class CompletionRequest(_Body):
    """POST /v1/completions: the OpenAI-compatible subset."""

    model: str | None = Field(None, description="model id; when given it must be the one served")
    prompt: str | list[JsonInt] = Field(description="text, or token ids")
    max_tokens: JsonInt = Field(16, ge=1, le=1_000_000, description="tokens to generate (always all of them)")
    temperature: float = Field(1.0, ge=0.0, le=2.0, description="0: deterministic text; accepted otherwise")
    top_p: float = Field(1.0, gt=0.0, le=1.0, description="accepted, no effect on timing")
    n: JsonInt = Field(1, ge=1, le=1, description="only 1 is supported")
    stream: bool = Field(False, description="server-sent events in OpenAI's chunk format, ending with [DONE]")
    stream_options: StreamOptions | None = Field(None, description="include_usage: a last chunk with usage")
    stop: str | list[str] | None = Field(None, description="accepted; the emulated model never stops early")
    seed: JsonInt | None = None
    user: str | None = None


class FaultLatency(_Body):
    add_ms: float = Field(ge=0, le=600_000)
    duration_s: float | None = Field(None, gt=0)


class FaultErrors(_Body):
    fraction: float = Field(ge=0, le=1)
    status: JsonInt = Field(500, ge=400, le=599)
    duration_s: float | None = Field(None, gt=0)


class FaultHang(_Body):
    duration_s: float | None = Field(None, gt=0)


class FaultCrash(_Body):
    exit_code: JsonInt = Field(1, ge=0, le=255)


class FaultReset(_Body):
    """POST /admin/reset takes no fields (an empty body is fine)."""


class FaultSlowStart(_Body):
    cold_start_s: float = Field(ge=0, le=86_400)


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionChoice(BaseModel):
    text: str
    index: int
    logprobs: None = None
    finish_reason: Literal["length", "stop"] | None


class CompletionResponse(BaseModel):
    """A completion, or (with ``stream``) one SSE chunk of it; the last chunk may carry ``usage``."""

    id: str
    object: Literal["text_completion"]
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


class PredictResponse(BaseModel):
    model: str
    replica: str
    outputs: list[Any]
    batch_size: int = Field(description="items in the batch this request ran in")
    queue_ms: float = Field(description="time waiting for the batch")
    device_ms: float = Field(description="device time of the batch")


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class ErrorResponse(BaseModel):
    error: ErrorDetail


async def read_body(scope: dict[str, Any], receive: Any, limit: int, first: dict[str, Any] | None = None) -> bytes:
    """The request body, or ApiError(413) as soon as it is known to exceed ``limit`` bytes.

    ``first``: the first ``http.request`` message, when the caller has received it already."""
    message = await receive() if first is None else first
    if message["type"] == "http.request" and not message.get("more_body", False):  # the usual: one message
        body: bytes = message.get("body", b"")
        if len(body) > limit:
            raise ApiError(413, f"request body over the limit of {limit} bytes", code="body_too_large")
        return body
    for name, value in scope.get("headers", ()):
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise ApiError(413, f"request body over the limit of {limit} bytes", code="body_too_large")
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ApiError(499, "client disconnected", code="client_closed")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body over the limit of {limit} bytes", code="body_too_large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
        message = await receive()


def parse_predict(body: bytes) -> tuple[list[Any], str | None]:
    """POST /v1/predict's body → (inputs, model).  The common, valid body is checked by hand after
    pydantic-core's JSON parser (a third of the cost of building the model); any other body goes through
    ``PredictRequest``, so every error is the model's own."""
    try:
        data = from_json(body)
    except ValueError:
        data = None
    if type(data) is dict:
        inputs, model = data.get("inputs", []), data.get("model")
        if type(inputs) is list and len(inputs) <= MAX_INPUTS and (model is None or type(model) is str):
            return inputs, model
    req = parse(body, PredictRequest)
    return req.inputs, req.model


def parse(body: bytes, model: type[M]) -> M:
    """JSON body → model; ApiError 400 for malformed JSON, 422 naming the first bad field."""
    try:  # only an empty body counts as {}: whitespace alone is malformed JSON, as the document says
        return model.__pydantic_validator__.validate_json(body or b"{}")  # type: ignore[no-any-return]
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        if err["type"] == "json_invalid":
            raise ApiError(400, f"malformed JSON body: {err['msg']}", code="malformed_json") from None
        if err["type"] == "model_type" and not err["loc"]:
            raise ApiError(422, "the body must be a JSON object", param="body", code="invalid_type") from None
        field = _field_path(model, err["loc"]) or "body"
        raise ApiError(422, f"{field}: {err['msg']}", param=field, code="invalid_field") from None


def _field_path(model: type[BaseModel], loc: tuple[Any, ...]) -> str:
    """``('prompt', 'str')`` → ``prompt``: field names and list indexes only, no union member tags."""
    out = ""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            continue
        out += f".{part}" if out else str(part)
        annotation = fields[part].annotation
        current = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        current = current or _model_in(annotation)
    return out


def _model_in(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None
