"""A compact Markdown summary for ``$GITHUB_STEP_SUMMARY`` (``--summary-md PATH``).

In: a run's summary dict or a comparison's result dict.  Out: Markdown text under ``LIMIT_BYTES``
(GitHub takes 1 MiB per step): a verdict line, the SLOs (failed ones first) or the compared metrics,
and a few headline numbers.  ``append_summary`` appends to the file (the way GitHub's step summary is
meant to be written, so several kibench commands in one step add up), cutting rows to stay under the cap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LIMIT_BYTES = 1 << 20
_MARGIN_BYTES = 64 << 10  # room for what other tools of the same step append


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def run_summary_md(summary: dict[str, Any]) -> list[str]:
    """Header lines then one table row per SLO (failed first)."""
    m = summary.get("metrics", {})
    verdict = str(summary.get("verdict", "?")).upper()
    icon = "✅" if verdict == "PASS" else "❌"
    lat = m.get("latency_ms") or {}
    head = [
        f"### {icon} kibench `{summary.get('scenario')}`: **{verdict}**",
        "",
        f"run `{summary.get('run_id')}` on {summary.get('platform')}"
        + ("" if summary.get("complete", True) else " (incomplete run)")
        + f" · resilience score {_fmt(m.get('resilience_score'))}"
        + f" · p95 {_fmt(lat.get('p95'))} ms · p99 {_fmt(lat.get('p99'))} ms"
        + f" · {_fmt(m.get('throughput_rps'))} req/s · errors {_fmt(_pct(m.get('error_rate')))}"
        + (f" · cost ${_fmt(m.get('cost_usd'))}" if m.get("cost_usd") is not None else ""),
        "",
        "| | SLO | value |",
        "|---|---|---|",
    ]
    slos = sorted(summary.get("slos", []), key=lambda s: bool(s.get("pass")))
    rows = [f"| {'✅' if s.get('pass') else '❌'} | `{s['metric']} {s['expression']}` | {_fmt(s.get('value'))} |"
            for s in slos]  # fmt: skip
    return head + (rows or ["| | no SLOs | |"])


def compare_summary_md(result: dict[str, Any]) -> list[str]:
    verdict = str(result.get("verdict"))
    icon = {"REGRESSION": "❌", "INCONCLUSIVE": "⚠️"}.get(verdict, "✅")
    head = [
        f"### {icon} kibench compare `{result.get('scenario')}`: **{verdict}**",
        "",
        f"baseline {', '.join(f'`{r}`' for r in result['baseline']['run_ids'])} · "
        f"candidate {', '.join(f'`{r}`' for r in result['candidate']['run_ids'])}",
        "",
        "| metric | baseline | candidate | change (95% CI) | margin | verdict |",
        "|---|---|---|---|---|---|",
    ]
    rows = [f"| {m['name']} | {_fmt(m['baseline'])} | {_fmt(m['candidate'])} | {m['change_label']} | "
            f"±{m['margin_label']} | {m['verdict']} |" for m in result.get("metrics", [])]  # fmt: skip
    return head + rows


def _pct(value: Any) -> str | None:
    return None if value is None else f"{100 * float(value):.2f}%"


def append_summary(path: str | Path, lines: list[str]) -> Path:
    """Append the lines (cut to stay under LIMIT_BYTES with what the file holds) and a blank line."""
    path = Path(path)
    used = path.stat().st_size if path.exists() else 0
    budget = LIMIT_BYTES - _MARGIN_BYTES - used
    out: list[str] = []
    size = 0
    for i, line in enumerate(lines):
        cost = len(line.encode("utf-8")) + 1
        if size + cost > budget - 200:
            out.append(f"\n… {len(lines) - i} more rows cut to keep the step summary under 1 MiB; see the report")
            break
        out.append(line)
        size += cost
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n\n")
    return path
