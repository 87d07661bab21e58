"""How the load reaches the service on a cluster: ``platform.url`` / ``platform.route`` validation, the
loopback-only rule of the tests, and the driver's choice when a URL is given (no cluster needed)."""

from __future__ import annotations

import pytest

from harness.errors import ClusterRefused, ScenarioError
from harness.platform.kubernetes import route
from harness.platform.kubernetes.driver import KubernetesDriver, Target
from harness.scenario import validate
from tests.kube.conftest import scenario_on


def _platform(**platform):
    data = {"name": "r", "platform": platform, "load": {"rate_rps": 1, "duration": 1}}
    return validate(data, "scenario.yaml").platform


@pytest.mark.parametrize(
    ("platform", "message"),
    [
        ({"kind": "kubernetes", "url": "ftp://example.com"}, "is not an http(s) URL with a host"),
        ({"kind": "kubernetes", "url": "http://"}, "is not an http(s) URL with a host"),
        ({"kind": "kubernetes", "url": "http://h/p?q=1"}, "without ?query or #fragment"),
        ({"kind": "kubernetes", "url": "http://h:99999"}, "the port is not a number"),
        ({"kind": "local", "url": "http://127.0.0.1:8000"}, "only platform.kind kubernetes uses url"),
        ({"kind": "local", "route": "port-forward"}, "only platform.kind kubernetes has routes"),
        ({"kind": "kubernetes", "route": "url"}, "route 'url' needs platform.url"),
        ({"kind": "kubernetes", "route": "port-forward", "url": "http://h"}, "are both given; keep one"),
    ],
)
def test_bad_routes_are_refused_naming_the_field(platform, message):
    with pytest.raises(ScenarioError, match="platform") as caught:
        _platform(**platform)
    assert message in str(caught.value) and caught.value.exit_code == 2


def test_a_good_url_is_kept_without_its_trailing_slash():
    assert _platform(kind="kubernetes", url="https://infer.example.com:8443/v/").url == "https://infer.example.com:8443/v"


def test_with_the_loopback_rule_only_loopback_addresses_take_load(monkeypatch):
    monkeypatch.setenv(route.LOOPBACK_ONLY_ENV, "1")
    for url in ("http://127.0.0.1:8000", "http://127.5.6.7", "http://localhost:80", "http://[::1]:8080"):
        route.check_loopback(url, "platform.url")
    for url in ("http://10.0.0.1", "https://infer.example.com", "http://0.0.0.0:80"):
        with pytest.raises(ClusterRefused, match="allows load to loopback only"):
            route.check_loopback(url, "platform.url")
    monkeypatch.setenv(route.LOOPBACK_ONLY_ENV, "0")
    route.check_loopback("https://infer.example.com", "platform.url")  # a user's run: the URL is theirs


def test_the_driver_takes_the_given_url_and_renders_a_load_balancer_when_asked(tmp_path):
    given = scenario_on(tmp_path / "kubeconfig", url="http://127.0.0.1:9")
    driver = KubernetesDriver(given, Target(str(tmp_path / "kubeconfig")), 0.0)
    assert driver._choose_route() == route.Route("http://127.0.0.1:9", "url")
    assert driver.manifests.service["spec"].get("type") in (None, "ClusterIP")
    balanced = KubernetesDriver(scenario_on(tmp_path / "k", route="loadbalancer"), Target(str(tmp_path / "k")), 0.0)
    assert balanced.manifests.service["spec"]["type"] == "LoadBalancer"
