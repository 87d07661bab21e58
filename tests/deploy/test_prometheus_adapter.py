"""deploy/prometheus-adapter/values.yaml: its rules serve, under the names the HPA uses on both platforms, the
series the reference service really exposes, aggregated as the embedded metrics pipeline aggregates them."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import generate_latest

from harness.platform.kubernetes.manifests import POD_GAUGES, SCRAPE_ANNOTATIONS, render
from harness.platform.local.metrics_scrape import hpa_wants, parse_gauges
from harness.scenario import validate
from harness.service.metrics import ServiceMetrics

VALUES = Path(__file__).parents[2] / "deploy" / "prometheus-adapter" / "values.yaml"


def rules() -> dict[str, dict[str, str]]:
    """metric name -> {series, aggregation} from the adapter's custom rules."""
    values = yaml.safe_load(VALUES.read_text())
    assert values["rules"]["default"] is False  # only kibench's rules; CPU and memory stay with metrics-server
    out = {}
    for rule in values["rules"]["custom"]:
        series = re.fullmatch(r"(\w+)\{namespace!=\"\",pod!=\"\"\}", rule["seriesQuery"])[1]
        assert rule["name"]["matches"] == f"^{series}$"
        assert rule["resources"]["overrides"] == {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}
        aggregation = re.fullmatch(r"(sum|avg)\(<<\.Series>>\{<<\.LabelMatchers>>\}\) by \(<<\.GroupBy>>\)",
                                   rule["metricsQuery"])[1]  # fmt: skip
        out[rule["name"]["as"]] = {"series": series, "aggregation": aggregation}
    return out


def test_the_rules_serve_the_names_the_hpa_uses_on_both_platforms():
    served = rules()
    assert {name: r["series"] for name, r in served.items()} == POD_GAUGES
    # the embedded pipeline averages a *_ratio gauge's label sets and sums the others: the adapter does the same
    assert all(r["aggregation"] == ("avg" if r["series"].endswith("_ratio") else "sum") for r in served.values())
    metrics = [{"type": "Pods", "name": name, "target_average_value": 1} for name in served]
    scenario = validate({"name": "s", "load": {"rate_rps": 1, "duration": 1},
                         "platform": {"hpa": {"enabled": True, "metrics": metrics}}}, "s")  # fmt: skip
    out = render(scenario)
    # the same HPA on both: the embedded cluster reads these names to the same series as the adapter
    assert hpa_wants(out.hpa)[0] == {name: r["series"] for name, r in served.items()}
    assert [m["pods"]["metric"]["name"] for m in out.hpa["spec"]["metrics"]] == list(served)
    # and a Prometheus that scrapes by annotation finds the pods, with the namespace and pod labels the rules map
    assert out.deployment["spec"]["template"]["metadata"]["annotations"].items() >= SCRAPE_ANNOTATIONS.items()


def test_the_service_exposes_every_series_the_rules_ask_for():
    metrics = ServiceMetrics("m", "classic", "emulated")
    metrics.bind(in_flight=lambda: 3, queue_depth=lambda: 2, running_batch=lambda: 1, running_seqs=lambda: 0,
                 ready=lambda: 1)  # fmt: skip
    page = generate_latest(metrics.registry).decode()
    wanted = {name: r["series"] for name, r in rules().items()}
    values = parse_gauges(page, wanted)
    assert set(values) == set(wanted), page
    assert values["queue_depth"] == 2 and values["in_flight"] == 3 and 0 <= values["device_busy"] <= 1
