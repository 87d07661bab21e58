"""Hypothesis strategies for kibench's inputs: scenarios (valid, extreme, mutated), ``--set`` overrides,
HPA case files and trace CSVs.

Valid scenarios are built from the schema's own ranges; mutations start from a valid document (or one
of the shipped scenarios and examples) and break one thing: a value of the wrong type or an odd unit,
an unknown key, a missing key, a misspelt key; text mutations break the YAML itself.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import yaml
from hypothesis import strategies as st

from harness import profiledata
from tests.fuzz.support import ROOT

Doc = dict[str, Any]
Path_ = tuple[str | int, ...]

SEED_FILES = sorted([*(ROOT / "scenarios").glob("*.yaml"), *(ROOT / "examples").glob("*.yaml")])
EXPERIMENTS = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "chaos").glob("*.yaml"))
PROFILES = profiledata.names()


def seeds() -> list[Doc]:
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in SEED_FILES]


# ---------------------------------------------------------------- values

ODD_DURATIONS = [
    "5 parsecs", "1d", "1e3s", "-0s", "-1s", "0x10", "5mins", "", "   ", "5 s", "5S", "5Ms", "1.5.2s", "∞", "½s",
    "٣s", "NaN", "inf", "-inf", "1_000s", "9" * 400 + "s", "1e999", ".5s", "5.s", "s5", "5ms5", "10us", "10µs",
    "P1D", "00:01:00", "1h30m", "\t1s\n", "1s\x00",
]  # fmt: skip
WRONG_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(ODD_DURATIONS),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(min_size=1, max_size=6), st.integers(-3, 3), max_size=2),
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 0, -1, 1e308, -0.0, 10**30, "0", "1", "[]", "{}"]),
)


def duration(min_s: float = 0.0, max_s: float = 3600.0) -> st.SearchStrategy[Any]:
    """A duration as the scenario file writes it: a number of seconds or a string with ms|s|m|h."""
    seconds = st.floats(min_value=min_s, max_value=max_s, allow_nan=False, allow_infinity=False)
    forms = [
        seconds.map(lambda x: f"{x:.3f}s").filter(lambda t: min_s <= float(t[:-1]) <= max_s),
        seconds.map(lambda x: f"{round(x * 1000)}ms").filter(lambda t: min_s <= int(t[:-2]) / 1000 <= max_s),
    ]
    if math.ceil(min_s) <= math.floor(max_s):
        forms.append(st.integers(math.ceil(min_s), math.floor(max_s)))
    low_m, high_m = max(1, math.ceil(min_s / 60)), math.floor(max_s / 60)
    if low_m <= high_m:
        forms.append(st.integers(low_m, high_m).map(lambda m: f"{m}m"))
    return st.one_of(forms)


RATE = st.floats(min_value=0.001, max_value=1e6, allow_nan=False, allow_infinity=False)
NAME = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,20}\Z")


# ---------------------------------------------------------------- valid scenarios


@st.composite
def shapes(draw: st.DrawFn, extreme: bool = False) -> Doc:
    """A load section of the open model (a shape or a shorthand), or of the closed model."""
    short = duration(0.001 if extreme else 1.0, 0.05 if extreme else 120.0)
    zero_or = st.one_of(st.just(0), short) if extreme else short
    rate = st.sampled_from([1e6, 1e5, 0.001]) if extreme else RATE
    kind = draw(st.sampled_from(["constant", "stages", "spike", "step", "sine", "trace", "closed", "shape-constant"]))
    if kind == "constant":
        return {"rate_rps": draw(rate), "duration": draw(short)}
    if kind == "shape-constant":
        return {"shape": {"kind": "constant", "rate_rps": draw(rate), "duration": draw(short)}}
    if kind == "stages":
        stages = draw(st.lists(st.fixed_dictionaries({"duration": zero_or, "target_rps": rate}), min_size=1,
                               max_size=5))  # fmt: skip
        stages[draw(st.integers(0, len(stages) - 1))]["duration"] = draw(short)  # at least one lasts
        return {"start_rps": draw(st.sampled_from([0, 1, 10])), "stages": stages}
    if kind == "spike":
        shape = {"kind": "spike", "base_rps": draw(st.sampled_from([0, 1.5, 10])), "peak_rps": draw(rate),
                 "hold": draw(short)}  # fmt: skip
        for leg in ("before", "rise", "fall", "after"):
            if draw(st.booleans()):
                shape[leg] = draw(zero_or)
        return {"shape": shape}
    if kind == "step":
        steps = draw(st.integers(1, 200 if extreme else 10))
        return {"shape": {"kind": "step", "start_rps": draw(rate), "step_rps": draw(st.sampled_from([0, 1, 2.5])),
                          "steps": steps, "step_duration": draw(short)}}  # fmt: skip
    if kind == "sine":
        low = draw(st.sampled_from([0, 1, 5]))
        return {"shape": {"kind": draw(st.sampled_from(["sine", "diurnal"])), "min_rps": low,
                          "max_rps": low + draw(rate), "period": draw(short), "duration": draw(short),
                          "points_per_period": draw(st.integers(8, 64))}}  # fmt: skip
    if kind == "trace":
        times = sorted(set(draw(st.lists(st.integers(0, 600), min_size=2, max_size=8, unique=True))))
        points = [[t, draw(st.sampled_from([0, 1, 7.5, 100]))] for t in times]
        return {"shape": {"kind": "trace", "points": points, "time_scale": draw(st.sampled_from([0.01, 0.5, 1, 3])),
                          "rate_scale": draw(st.sampled_from([0.1, 1, 10])),
                          "interpolate": draw(st.sampled_from(["linear", "step"]))}}  # fmt: skip
    return {"model": "closed", "users": draw(st.integers(1, 100_000 if extreme else 50)), "duration": draw(short),
            "wait_time": draw(st.sampled_from([0, "10ms", "1s"]))}  # fmt: skip


@st.composite
def platforms(draw: st.DrawFn, extreme: bool = False) -> Doc:
    platform: Doc = {}
    if draw(st.booleans()):
        platform["nodes"] = {"count": draw(st.integers(0, 64)), "gpu_slots": draw(st.integers(1, 64))}
    if draw(st.booleans()):
        low = draw(st.integers(1, 64))
        metric = draw(st.sampled_from([
            {"type": "Pods", "name": "queue_depth", "target_average_value": 3},
            {"type": "Pods", "name": "device_busy", "target_average_value": 0.6},
            {"type": "Resource", "name": "cpu", "target_utilization": 80},
        ]))  # fmt: skip
        platform["hpa"] = {"enabled": True, "min_replicas": low, "max_replicas": draw(st.integers(low, 64)),
                           "metrics": [metric], "sync_period": draw(duration(0.001 if extreme else 1, 30))}  # fmt: skip
    if draw(st.booleans()):
        budgets = [{"min_available": 1}, {"max_unavailable": "25%"}, {"min_available": 0}]
        platform["pdb"] = draw(st.sampled_from(budgets))
    if draw(st.booleans()):
        platform["probes"] = {"readiness": {"period": draw(duration(0.001, 10))}}
    return platform


@st.composite
def scenarios(draw: st.DrawFn, extreme: bool = False) -> Doc:
    """A scenario that validates: every field within the schema's ranges (``extreme``: at their edges)."""
    load = draw(shapes(extreme))
    doc: Doc = {"name": draw(NAME), "load": load}
    if draw(st.booleans()):
        doc["platform"] = draw(platforms(extreme))
    if draw(st.booleans()) or extreme:
        service: Doc = {"replicas": 64 if extreme else draw(st.integers(1, 64))}
        if draw(st.booleans()):
            service["profile"] = draw(st.sampled_from(PROFILES))
        if draw(st.booleans()):
            service["cold_start"] = draw(duration(0, 10))
        doc["service"] = service
    if draw(st.booleans()):
        doc["slos"] = draw(st.sampled_from([
            {"latency_ms": ["p(95) < 250", "max <= 2000"]},
            {"errors": ["rate < 0.01"], "throughput_rps": ["value >= 0"]},
            {"latency_ms": [{"threshold": "p(99.9) < 800", "severity": "warning"}]},
            {"resilience_score": ["value > 50"], "latency_ms{phase:steady_state}": ["p(50) < 100"]},
        ]))  # fmt: skip
    if draw(st.booleans()) and load.get("model") != "closed":
        doc["faults"] = [{"at": 0, "experiment": draw(st.sampled_from(EXPERIMENTS))}]
    if draw(st.booleans()):
        doc["cost"] = {"gpu_hour_usd": draw(st.sampled_from([0, 2.5, 1e6]))}
    return doc


# ---------------------------------------------------------------- mutations


def paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every path to a value in a YAML document (mappings, lists and leaves)."""
    out: list[Path_] = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(paths(value, (*prefix, i)))
    return out


def get(doc: Any, path: Path_) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def dotted(path: Path_) -> str:
    """``('load', 'stages', 1, 'duration')`` → ``load.stages[1].duration`` (the scenario's error style)."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


@st.composite
def mutated(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> tuple[Any, str, Path_]:
    """A document with one thing broken: (document, what was done, the path it was done at)."""
    doc = copy.deepcopy(draw(base))
    where = draw(st.sampled_from(paths(doc)))
    parent, last = get(doc, where[:-1]), where[-1]
    how = draw(st.sampled_from(["wrong-value", "wrong-value", "odd-unit", "unknown-key", "missing-key", "typo"]))
    if how == "wrong-value":
        parent[last] = draw(WRONG_VALUES)
    elif how == "odd-unit":
        parent[last] = draw(st.sampled_from(ODD_DURATIONS))
    elif how == "unknown-key":
        node = get(doc, where)
        if isinstance(node, dict):
            target, prefix = node, where
        elif isinstance(parent, dict):
            target, prefix = parent, where[:-1]
        else:  # a list item that is not a mapping: add the key at the top (a case file: to its first case)
            target, prefix = (doc, ()) if isinstance(doc, dict) else (doc[0], (0,))
        key = draw(st.from_regex(r"\A[a-z_]{1,12}\Z").filter(lambda k: k not in target))
        target[key] = draw(WRONG_VALUES)
        where = (*prefix, key)
    elif isinstance(parent, dict):  # missing-key, typo
        value = parent.pop(last)
        if how == "typo" and isinstance(last, str) and len(last) > 1:
            i = draw(st.integers(0, len(last) - 1))
            parent[last[:i] + last[i + 1 :]] = value
    else:  # a list item: drop it
        del parent[last]
    return doc, how, where


@st.composite
def broken_text(draw: st.DrawFn, base: st.SearchStrategy[Any]) -> bytes:
    """The YAML text of a document, then broken as text: cut, spliced, re-indented, re-encoded."""
    text = yaml.safe_dump(draw(base), sort_keys=False, allow_unicode=True)
    how = draw(st.sampled_from(["cut", "insert", "indent", "drop-line", "dup-line", "bytes", "tabs"]))
    at = draw(st.integers(0, len(text)))
    if how == "cut":
        text = text[:at]
    elif how == "insert":
        text = text[:at] + draw(st.text(st.sampled_from(":{}[]-#&*!|>'\"%@`,? \n\t\\x\x00é"), max_size=4)) + text[at:]
    elif how in ("indent", "drop-line", "dup-line", "tabs"):
        lines = text.splitlines(keepends=True)
        i = draw(st.integers(0, max(0, len(lines) - 1)))
        if how == "indent":
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
        elif how == "drop-line" and lines:
            del lines[i]
        elif how == "dup-line" and lines:
            lines.insert(i, lines[i])
        else:
            lines[i] = lines[i].replace("  ", "\t")
        text = "".join(lines)
    raw = text.encode("utf-8")
    if how == "bytes":
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]
    return raw


# ---------------------------------------------------------------- --set overrides

OVERRIDE_KEYS = st.one_of(
    st.sampled_from([
        "name", "load.rate_rps", "load.duration", "load.stages[0].target_rps", "load.stages.1.duration",
        "load.stages[99].duration", "load.shape.kind", "service.replicas", "platform", "platform.hpa.enabled",
        "slos.latency_ms", "slos.latency_ms[0]", "slos", "faults[0].at", "faults.0.experiment", "load.workload.kind",
        "name.first", "load.rate_rps.x", "a.b.c", "0", "[0]", "..", ".", "load..rate_rps", "load.[1]", "load[x]",
        " ", "load.rate_rps ", "service.profile", "slo_defaults", "target.url", "load.stages[0][1]",
    ]),
    st.text(st.sampled_from("abc.[]0129_ -"), max_size=12),
)  # fmt: skip
OVERRIDE_VALUES = st.one_of(
    WRONG_VALUES.map(lambda v: yaml.safe_dump(v, default_flow_style=True).removesuffix("\n...\n").strip()),
    st.sampled_from(["", "{", "[", "]", "!!python/object:os.system", "*a", "&a 1", "- a\n- b", "%YAML 1.1", "'",
                     "5s", "1m", "[{duration: 1s, target_rps: 5}]", "{kind: spike}", "null", "~", "local"]),
    st.text(max_size=10),
)  # fmt: skip


SENSIBLE_OVERRIDES = [
    "load.duration=10s", "service.replicas=64", "slo_defaults=false", "load.arrivals=poisson", "platform=local",
    "name=renamed-1", "load.seed=7", "load.max_concurrency=1", "service.cold_start=0", "description=",
    "slos.latency_ms=[\"p(99) < 400\"]", "load.timeout=500ms", "platform.hpa.enabled=true", "cost.gpu_hour_usd=2.5",
    "load.workers=64", "service.profile=resnet50-t4", "slos={}", "faults=[]",
]  # fmt: skip


@st.composite
def overrides(draw: st.DrawFn) -> list[str]:
    """A few ``--set`` arguments: sensible ones, and keys and values good and bad."""
    fuzzed = st.tuples(OVERRIDE_KEYS, st.sampled_from(["=", "", "==", "= "]), OVERRIDE_VALUES).map("".join)
    return draw(st.lists(st.one_of(st.sampled_from(SENSIBLE_OVERRIDES), fuzzed), min_size=1, max_size=3))


# ---------------------------------------------------------------- trace CSVs

CSV_CELLS = st.one_of(
    st.integers(-5, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "inf", "-inf", "1e999", "1_0", "0x10", "time_s", "rate_rps", "½", "٣", "1,5",
                     "\"1\"", "5s", "-0", "+3", ".5", "1e-320"]),
)  # fmt: skip


@st.composite
def trace_csvs(draw: st.DrawFn) -> bytes:
    """``time_s,rate_rps`` CSV text: a header (or not), comments, blank lines, and rows that are all good
    (half the files) or good and bad mixed; any line end; now and then a byte that is not UTF-8."""
    rows = []
    if draw(st.booleans()):
        rows.append(draw(st.sampled_from(["time_s,rate_rps", "t,r", "# a comment", "\ufefftime_s,rate_rps"])))
    clean = draw(st.booleans())
    kinds = ["good"] if clean else ["good", "good", "good", "cells", "comment", "blank", "short", "long"]
    t = draw(st.sampled_from([0, 0.5, 3600]))
    for _ in range(draw(st.integers(0 if not clean else 2, 8))):
        kind = draw(st.sampled_from(kinds))
        if kind == "good":
            t += draw(st.sampled_from([1, 1, 5, 0.25, 30]) if clean else st.integers(0, 30))
            rows.append(f"{t:g},{draw(st.sampled_from([0, 1, 2.5, 100, 1e6]))}")
        elif kind == "cells":
            rows.append(f"{draw(CSV_CELLS)},{draw(CSV_CELLS)}")
        elif kind == "comment":
            rows.append(f"{t + 1:g},{t:g} # note")
        elif kind == "blank":
            rows.append(draw(st.sampled_from(["", "   ", "#"])))
        elif kind == "short":
            rows.append(draw(CSV_CELLS))
        else:
            rows.append(",".join(draw(st.lists(CSV_CELLS, min_size=3, max_size=4))))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    raw = eol.join(rows).encode("utf-8")
    return raw + draw(st.sampled_from([b"", b"\xff", b"\x00"])) if draw(st.integers(0, 9)) == 0 else raw


# ---------------------------------------------------------------- HPA case files

CASE_FILES = sorted((ROOT / "harness" / "autoscale" / "cases").glob("*.yaml"))


def shipped_cases() -> list[Doc]:
    return [case for path in CASE_FILES for case in yaml.safe_load(path.read_text(encoding="utf-8"))]
