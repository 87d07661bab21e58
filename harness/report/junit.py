"""JUnit XML for CI systems: one testcase per SLO expression of a run, one per metric of a comparison.

In: a run's summary dict, or a comparison's result dict (compare.json).  Out: XML text in the portable
shape ``testsuites > testsuite > testcase[classname, name, time] > failure[message]`` that GitHub
actions, GitLab and Jenkins read.

Run: classname ``kibench.<scenario>``, name ``<metric> <expression>`` (``latency_ms p(95) < 250``,
``latency_ms{phase:spike} p(95) < 500``, ``errors rate < 0.01 [default]``); a failed SLO has a
``failure`` whose message carries the measured value.  Every SLO in the summary is listed, whatever
produced it (scenario or defaults).
Compare: classname ``kibench.compare.<scenario>``, name ``<metric> (margin ...)``; a REGRESSION is a
failure, INCONCLUSIVE is a failure under ``--strict`` and skipped otherwise.  GitLab drops duplicate
classname + name pairs, so a repeated name gets `` #2``, `` #3``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "none (no data)"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _tag(slo: dict[str, Any]) -> str:
    """`` [default]``, `` [self-check]`` or both, as the CLI and report.md tag them."""
    tags = [t for t, on in (("default", slo.get("default")), ("self-check", slo.get("self_check"))) if on]
    return f" [{', '.join(tags)}]" if tags else ""


def _unique(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return out


def _document(suite_name: str, cases: list[ET.Element], props: dict[str, Any], time_s: float) -> str:
    root = ET.Element("testsuites", name="kibench")
    failures = sum(1 for c in cases if c.find("failure") is not None)
    skipped = sum(1 for c in cases if c.find("skipped") is not None)
    suite = ET.SubElement(root, "testsuite", name=suite_name, tests=str(len(cases)), failures=str(failures),
                          errors="0", skipped=str(skipped), time=f"{time_s:.3f}")  # fmt: skip
    properties = ET.SubElement(suite, "properties")
    for key, value in props.items():
        ET.SubElement(properties, "property", name=key, value=_fmt(value))
    suite.extend(cases)
    root.set("tests", str(len(cases)))
    root.set("failures", str(failures))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def run_junit(summary: dict[str, Any]) -> str:
    """One testcase per SLO of the summary (see the module docstring)."""
    classname = f"kibench.{summary.get('scenario')}"
    slos = summary.get("slos", [])
    names = _unique([f"{s['metric']} {s['expression']}" + _tag(s) for s in slos])
    cases = []
    for slo, name in zip(slos, names, strict=True):
        case = ET.Element("testcase", classname=classname, name=name, time="0")
        if not slo.get("pass"):
            message = f"{slo['metric']} {slo['expression']} failed: measured {_fmt(slo.get('value'))}"
            failure = ET.SubElement(case, "failure", message=message, type="SLOFailure")
            failure.text = message + (f" (phase {slo['phase']})" if slo.get("phase") else "")
        cases.append(case)
    m = summary.get("metrics", {})
    props = {"run_id": summary.get("run_id"), "verdict": summary.get("verdict"),
             "resilience_score": m.get("resilience_score"), "platform": summary.get("platform")}  # fmt: skip
    return _document(classname, cases, props, float(m.get("load_duration_s") or 0.0))


def compare_junit(result: dict[str, Any]) -> str:
    """One testcase per compared metric (see the module docstring)."""
    classname = f"kibench.compare.{result.get('scenario')}"
    strict = bool(result.get("strict"))
    metrics = result.get("metrics", [])
    names = _unique([f"{m['name']} (margin {m['margin_label']})" for m in metrics])
    cases = []
    for metric, name in zip(metrics, names, strict=True):
        case = ET.Element("testcase", classname=classname, name=name, time="0")
        verdict = metric["verdict"]
        message = f"{metric['name']}: {verdict}: {metric['statement']}"
        if verdict == "REGRESSION" or (verdict == "INCONCLUSIVE" and strict):
            failure = ET.SubElement(case, "failure", message=message, type=verdict)
            failure.text = message
        elif verdict == "INCONCLUSIVE":
            ET.SubElement(case, "skipped", message=message)
        else:
            ET.SubElement(case, "system-out").text = message
        cases.append(case)
    props = {"verdict": result.get("verdict"), "baseline": ",".join(result["baseline"]["run_ids"]),
             "candidate": ",".join(result["candidate"]["run_ids"])}  # fmt: skip
    return _document(classname, cases, props, 0.0)
