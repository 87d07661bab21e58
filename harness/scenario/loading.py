"""Reading a scenario file: YAML, ``--set`` overrides, validation, the error that names file, field and fix.

In: a YAML file path (or a mapping and the name of its source) and optional ``path.to.field=VALUE`` overrides.
Out: a validated ``Scenario`` (durations already converted to seconds) or a ``ScenarioError`` (exit 2) whose
message names the file, the field path and the fix.  ``json_schema()`` exports the schema for editors and CI;
``dump()`` writes the resolved scenario back as YAML.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import ScenarioError, ThresholdError
from harness.scenario.slos import _parse_slo
from harness.scenario.spec import Scenario


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override and validate a scenario file; every failure is a ScenarioError naming the field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), "", f"cannot read the file ({exc.strerror}); check the path") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(str(path), "", f"not UTF-8 text (byte {exc.start}); save the file as UTF-8") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ScenarioError(str(path), where, f"not valid YAML ({getattr(exc, 'problem', exc)})") from exc
    except (ValueError, RecursionError) as exc:  # an integer of thousands of digits; nested too deeply
        raise ScenarioError(str(path), "", f"not valid YAML ({_yaml_limit(exc)})") from None
    if not isinstance(data, dict):
        raise ScenarioError(str(path), "", "the file must be a YAML mapping with at least 'name' and 'load'")
    for override in overrides:
        data = apply_override(data, override, str(path))
    return validate(data, str(path))


def validate(data: dict[str, Any], source: str) -> Scenario:
    """Validate a scenario mapping; ``source`` names it in error messages."""
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as exc:
        raise _scenario_error(exc, source) from None
    phases = scenario.phase_names()
    for metric, exprs in scenario.slos.items():
        for i, expr in enumerate(exprs):
            try:
                threshold = _parse_slo(metric, expr)
            except ThresholdError as exc:
                raise ScenarioError(source, f"slos.{metric}[{i}]", str(exc)) from None
            if threshold.phase is not None and threshold.phase not in phases:
                problem = f"this scenario has no phase {threshold.phase!r}; its phases: {', '.join(phases)}"
                raise ScenarioError(source, f"slos.{metric}", problem)
    return scenario


def _scenario_error(exc: ValidationError, source: str) -> ScenarioError:
    errors = [e for e in exc.errors() if not _str_member_of_mapping(e)] or exc.errors()
    err = errors[0]
    field = _format_loc(err["loc"])
    problem = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        problem = "unknown field; remove it or fix its spelling" + _suggest(err["loc"])
    elif err["type"] == "missing":
        problem = "required field is missing; add it (see `kibench schema` or the README)"
    elif err["type"] in _BOUNDS:
        bound = err["ctx"][_BOUND_KEY[err["type"]]]
        problem = f"must be {_BOUNDS[err['type']]} {bound:g} (got {err['input']!r})"
    elif "input" in err and err["type"] not in ("value_error", "model_type"):
        problem = f"{problem} (got {err['input']!r})"
    more = len(errors) - 1
    if more:
        problem += f" ({more} more problem{'s' if more > 1 else ''} after this one)"
    return ScenarioError(source, field, problem)


def _str_member_of_mapping(err: Any) -> bool:
    """A mapping tried against the ``str`` member of a ``str | Model`` union (``slos``' entries): the model's
    own errors say what is wrong with it."""
    return err["type"] == "string_type" and err["loc"][-1:] == ("str",) and isinstance(err.get("input"), dict)


_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
_BOUND_KEY = {"greater_than": "gt", "greater_than_equal": "ge", "less_than": "lt", "less_than_equal": "le"}


def _format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith(("function-", "tagged-union[")) and part not in ("str", "SloSpec"):
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _suggest(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] | None = Scenario
    for part in loc[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        annotation = getattr(field, "annotation", None)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if model is None:
        return ""
    close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def apply_override(data: dict[str, Any], override: str, source: str) -> dict[str, Any]:
    """Apply ``path.to.field=VALUE`` (VALUE parsed as YAML; list items as ``[i]`` or ``.i``)."""
    key, sep, raw = override.partition("=")
    if not sep or not key.strip():
        raise ScenarioError(source, f"--set {override}", "write --set path.to.field=VALUE")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ScenarioError(source, f"--set {key}", f"VALUE is not valid YAML ({exc})") from exc
    except (ValueError, RecursionError) as exc:
        raise ScenarioError(source, f"--set {key}", f"VALUE is not valid YAML ({_yaml_limit(exc)})") from None
    parts: list[str | int] = []
    for name, index in _PATH_PART.findall(key.strip()):
        parts.append(int(index) if index else (int(name) if name.isdigit() else name))
    if not parts:
        raise ScenarioError(source, f"--set {override}", "no field named; write --set path.to.field=VALUE")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        elif isinstance(node, dict):
            node = node.setdefault(part, [] if isinstance(nxt, int) else {})
        else:
            raise ScenarioError(source, f"--set {key}", f"cannot descend into {part!r}; check the path")
    last = parts[-1]
    if isinstance(node, list) and isinstance(last, int) and last <= len(node):
        node[last : last + 1] = [value]
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError(source, f"--set {key}", f"cannot set {last!r}; check the path")
    return data


def _yaml_limit(exc: Exception) -> str:
    return "nested too deeply" if isinstance(exc, RecursionError) else str(exc)


def json_schema() -> dict[str, Any]:
    """The scenario's JSON Schema (``kibench schema``)."""
    return Scenario.model_json_schema()


def dump(scenario: Scenario) -> str:
    """The resolved scenario as YAML (written to the run folder)."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False)
