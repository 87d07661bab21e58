"""compare.md, compare.html (forest plot, CDF overlays) and junit.xml of a comparison.

In: the comparison result dict (compare.json, written by harness.compare).  Out: the files in the
comparison's folder, each written to a temporary name and renamed; returns their paths.  The forest plot
shows each metric's estimate and 95 % interval against its ±margin band (ratios as % change; the error
rate in percentage points); the CDF overlays draw the baseline's and candidate's pooled steady-state
distributions from the histograms compare.json carries.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from harness.report.figures import cdf_png  # noqa: E402
from harness.report.html import ENV, TEMPLATES, fmt  # noqa: E402
from harness.report.junit import compare_junit  # noqa: E402
from harness.runio import write_atomic  # noqa: E402

_COLORS = {"REGRESSION": "#cf222e", "IMPROVEMENT": "#1f883d", "EQUIVALENT": "#1f6feb", "INCONCLUSIVE": "#9a6700"}


def forest_png(result: dict[str, Any]) -> bytes | None:
    metrics = [m for m in result.get("metrics", []) if m["ci"][0] is not None]
    if not metrics:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.45 * len(metrics) + 1.2))
    for i, m in enumerate(reversed(metrics)):
        scale, center = (100.0, 1.0) if m["kind"] == "ratio" else (100.0, 0.0)
        est, lo, hi = ((v - center) * scale for v in (m["estimate"], *m["ci"]))
        margin = m["margin"] * scale
        ax.add_patch(plt.Rectangle((-margin, i - 0.35), 2 * margin, 0.7, color="#d0d7de", alpha=0.6, linewidth=0))
        color = _COLORS[m["verdict"]]
        ax.errorbar([est], [i], xerr=[[est - lo], [hi - est]], fmt="o", color=color, capsize=4)
        unit = "%" if m["kind"] == "ratio" else " pt"
        ax.text(max(hi, margin) + 0.3, i, f"{m['verdict']}  {est:+.1f}{unit}", va="center", fontsize=8, color=color)
    ax.axvline(0, color="grey", linewidth=0.8)
    ax.set_yticks(range(len(metrics)), [m["name"] for m in reversed(metrics)], fontsize=8)
    ax.set_xlabel("candidate vs baseline: % change (error_rate: percentage points); grey band: ±margin")
    left, right = ax.get_xlim()
    ax.set_xlim(left, right + (right - left) * 0.35)
    ax.grid(axis="x", alpha=0.3)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return buf.getvalue()


def _cdfs(result: dict[str, Any]) -> bytes | None:
    curves = {}
    for metric, sides in (result.get("distributions") or {}).items():
        curves[metric] = {name: (np.asarray(d["x"], dtype=float), np.asarray(d["f"], dtype=float))
                          for name, d in sides.items()}  # fmt: skip
    return cdf_png(curves)


def render_compare_md(result: dict[str, Any]) -> str:
    method = result["method"]
    lines = [
        f"# kibench compare: {result['scenario']}: **{result['verdict']}**",
        "",
        f"- baseline: {', '.join(f'`{r}`' for r in result['baseline']['run_ids'])} "
        f"({sum(result['baseline']['windows'])} windows)",
        f"- candidate: {', '.join(f'`{r}`' for r in result['candidate']['run_ids'])} "
        f"({sum(result['candidate']['windows'])} windows)",
        f"- method: {method['bootstrap']}; windows of {method['window_s']:g} s after a "
        f"{method['warmup_s']:g} s warm-up; "
        f"blocks of {method['block_length_windows']} windows; {method['resamples']} resamples (seed {method['seed']}); "
        f"{method['confidence']:.0%} percentile intervals"
        + (" ; `--strict`: INCONCLUSIVE fails" if result.get("strict") else ""),
        "",
        "| metric | baseline | candidate | change [95% CI] | margin | verdict |",
        "|---|---|---|---|---|---|",
    ]
    for m in result["metrics"]:
        verdict = f"**{m['verdict']}**" if m["verdict"] in ("REGRESSION", "INCONCLUSIVE") else m["verdict"]
        lines.append(f"| {m['name']} | {fmt(m['baseline'])} | {fmt(m['candidate'])} | {m['change_label']} | "
                     f"±{m['margin_label']} | {verdict} |")  # fmt: skip
    if result.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in result["warnings"]]
    lines += ["", "REGRESSION: the interval lies wholly beyond the margin on the worse side; EQUIVALENT: wholly inside "
              "±margin; INCONCLUSIVE: it crosses the margin (more or longer runs narrow it)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def render_compare_html(result: dict[str, Any]) -> str:
    figs = {"forest": forest_png(result), "cdf": _cdfs(result)}
    return ENV.get_template("compare.html.j2").render(
        r=result,
        css=(TEMPLATES / "base.css").read_text(encoding="utf-8"),
        figs={k: base64.b64encode(v).decode("ascii") for k, v in figs.items() if v},
        fmt=fmt,
    )


def write_compare_reports(out_dir: str | Path, result: dict[str, Any]) -> list[Path]:
    out = Path(out_dir)
    return [
        write_atomic(out / "compare.md", render_compare_md(result)),
        write_atomic(out / "compare.html", render_compare_html(result)),
        write_atomic(out / "junit.xml", compare_junit(result)),
    ]
