"""The simulator's models: one replica at a known load gives the profile's latency and throughput, and the
HPA decides as the embedded platform's controller does for the same metric series."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from harness.platform.kubernetes.manifests import hpa as hpa_manifest
from harness.platform.local import hpa_controller
from harness.platform.local.apiserver.store import Store
from harness.platform.local.hpa_controller import HpaController, pod_sample
from harness.platform.local.metrics_scrape import PodMetrics
from harness.platform.local.objects import DEPLOYMENTS, HPAS, PODS
from harness.platform.local.recorder import EventRecorder
from harness.scenario import HpaSettings, validate
from harness.service.profiles import load_profile
from harness.simulate import SimOptions, simulate
from harness.simulate.service import EMBEDDED_OVERHEAD_MS


def _scenario(**load: object) -> object:
    data = {
        "name": "one-replica",
        "service": {"replicas": 1, "device_time_ms": 50, "cold_start": "1s"},
        "load": {"duration": "6s", "timeout": "30s", "max_concurrency": 100000, **load},
        "slo_defaults": False,
    }
    profile = load.pop("profile", None) if "profile" in load else None
    if profile is not None:
        data["service"]["profile"] = profile
        data["load"].pop("profile", None)
        data["service"]["max_queue"] = 100000
    return validate(data, "test")


def _requests(run: Path) -> pd.DataFrame:
    frame = pd.read_parquet(run / "requests.parquet")
    frame["done_s"] = frame["t_intended_s"] + frame["latency_ms"] / 1000.0
    return frame


def test_a_replica_under_its_capacity_answers_in_the_device_time(tmp_path: Path) -> None:
    outcome = simulate(_scenario(rate_rps=10), tmp_path, SimOptions(mode="des", overhead_ms=2.0), analyse=False)
    rows = _requests(outcome.run_dir)
    assert len(rows) == 60 and rows["ok"].all()
    assert np.allclose(rows["latency_ms"], 50.0 + 2.0)  # 10 rps x 50 ms: never two in the queue
    meta = json.loads((outcome.run_dir / "run.json").read_text())
    assert meta["platform"] == "simulated" and meta["simulation"]["mode"] == "des"


def test_the_http_path_is_drawn_from_the_embedded_platforms_measured_overhead(tmp_path: Path) -> None:
    outcome = simulate(_scenario(rate_rps=10, duration="60s"), tmp_path, SimOptions(mode="des"), analyse=False)
    over = _requests(outcome.run_dir)["latency_ms"].to_numpy() - 50.0  # never queued: 10 rps x 50 ms
    quantiles = dict(EMBEDDED_OVERHEAD_MS)
    assert over.min() >= quantiles[0.0] and over.max() <= quantiles[1.0]
    assert np.percentile(over, 50) == pytest.approx(quantiles[0.5], abs=0.3)
    assert np.percentile(over, 95) == pytest.approx(quantiles[0.95], rel=0.15)


def test_an_overloaded_batching_replica_serves_the_profiles_throughput(tmp_path: Path) -> None:
    profile = load_profile("resnet50-t4")
    scenario = _scenario(rate_rps=3000, duration="3s", profile="resnet50-t4")
    outcome = simulate(scenario, tmp_path, SimOptions(mode="des"), analyse=False)
    rows = _requests(outcome.run_dir)
    start = rows["t_intended_s"].min()
    done = rows.loc[rows["ok"], "done_s"]
    served = ((done >= start + 1.0) & (done < start + 3.0)).sum() / 2.0  # full batches back to back
    assert served == pytest.approx(profile.max_throughput_rps(), rel=0.02)


def test_fluid_and_des_agree_on_a_steady_replica(tmp_path: Path) -> None:
    scenario = _scenario(rate_rps=12)
    des = simulate(scenario, tmp_path / "d", SimOptions(mode="des"), analyse=False)
    fluid = simulate(scenario, tmp_path / "f", SimOptions(mode="fluid"), analyse=False)
    a, b = _requests(des.run_dir), _requests(fluid.run_dir)
    assert len(a) == len(b) == 72
    assert a["latency_ms"].median() == pytest.approx(b["latency_ms"].median(), rel=0.02)


# ---- the HPA: the simulator's call against the embedded controller's, same metric series -------------

_T0 = 1_800_000_000.0


def _rfc(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(name: str, started: float) -> dict:
    return {
        "metadata": {"name": name, "namespace": "default", "labels": {"app": "svc"}},
        "spec": {"containers": [{"name": "c", "image": "svc", "resources": {"requests": {"cpu": "500m"}}}]},
        "status": {
            "phase": "Running",
            "startTime": _rfc(started),
            "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": _rfc(started)}],
        },
    }


def test_hpa_decisions_equal_the_embedded_controllers(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = HpaSettings(
        enabled=True, min_replicas=1, max_replicas=10, sync_period=1.0, downscale_stabilization=5.0,
        metrics=[{"type": "Pods", "name": "queue_depth", "target_average_value": 3},
                 {"type": "Resource", "name": "cpu", "target_utilization": 60}],
    )  # fmt: skip
    store = Store()
    template = {"metadata": {"labels": {"app": "svc"}}, "spec": {"containers": [{"name": "c", "image": "svc"}]}}
    store.create(DEPLOYMENTS, "default", {"metadata": {"name": "svc"}, "spec": {
        "replicas": 3, "selector": {"matchLabels": {"app": "svc"}}, "template": template}})  # fmt: skip
    obj = hpa_manifest(settings, "svc")
    obj["metadata"]["namespace"] = "default"
    store.create(HPAS, "default", obj)
    names = ["p0", "p1", "p2"]
    for name in names:
        store.create(PODS, "default", _pod(name, _T0 - 100))
    cluster = SimpleNamespace(store=store, recorder=EventRecorder(store), cfg=SimpleNamespace(hpa=settings))
    scraped = SimpleNamespace(samples={}, resolution_s=1.0)  # what the HTTP scraper would have read
    controller = HpaController.__new__(HpaController)
    controller.__init__(cluster, scraped)  # type: ignore[misc]
    clock = [_T0]
    monkeypatch.setattr(hpa_controller, "time", SimpleNamespace(time=lambda: clock[0]))

    from harness.simulate.hpa import SimHpa

    sim = SimHpa(settings, "svc")
    rng = np.random.default_rng(7)
    series = [(rng.uniform(0, 12, 3), rng.uniform(0.05, 0.6, 3)) for _ in range(40)]
    embedded, simulated, current = [], [], 3
    for step, (queue, cpu) in enumerate(series):
        now = _T0 + step
        clock[0] = now
        values = [{"queue_depth": float(q), "cpu": float(c)} for q, c in zip(queue, cpu, strict=True)]
        scraped.samples = {("default", n): PodMetrics(("default", n), now - 0.5, 1.0, v)
                           for n, v in zip(names, values, strict=True)}  # fmt: skip
        decision = controller.sync(store.get(HPAS, "default", "svc"))
        embedded.append(decision.desired_replicas)
        samples = [
            pod_sample(n, running=True, ready=True, start_s=_T0 - 100, ready_transition_s=_T0 - 100, deleted=False,
                       metric_timestamp_s=now - 0.5, metric_window_s=1.0, values=v, cpu_request_cores=0.5)
            for n, v in zip(names, values, strict=True)
        ]  # fmt: skip
        simulated.append(sim.sync(now, current, samples).desired_replicas)
        current = simulated[-1]
    assert embedded == simulated
    assert len(set(simulated)) > 2, "the series moved the HPA both ways"


def test_calibration_draws_pod_starts_from_the_pods_started_under_load() -> None:
    from harness.simulate.calibrate import _process_starts

    events = [
        {"t_s": 1.0, "kind": "pod_scheduled", "pod": "a"},
        {"t_s": 3.0, "kind": "pod_ready", "pod": "a"},
        {"t_s": 5.0, "kind": "load_start"},
        {"t_s": 7.0, "kind": "pod_scheduled", "pod": "b"},
        {"t_s": 8.5, "kind": "pod_ready", "pod": "b"},
    ]
    assert _process_starts(events, fixed_s=1.0, after_s=5.0) == [0.5]  # the deploy's slow start left out
    assert _process_starts(events[:3], fixed_s=1.0, after_s=5.0) == [1.0]  # none under load: the deploy's


def test_arrivals_over_the_users_are_dropped_as_the_load_generator_drops_them(tmp_path: Path) -> None:
    # 40 rps at one replica of 20 rps with 5 users: at most 5 in flight; the rest found every user busy
    scenario = validate({
        "name": "capped", "service": {"replicas": 1, "device_time_ms": 50, "cold_start": "1s"},
        "load": {"rate_rps": 40, "duration": "10s", "timeout": "30s", "max_concurrency": 5},
        "slos": {"latency_ms": ["p(95) < 2000"]},
    }, "test")  # fmt: skip
    des = simulate(scenario, tmp_path / "d", SimOptions(mode="des"))
    rows = _requests(des.run_dir)
    stats = json.loads((des.run_dir / "load-w0.json").read_text())
    assert stats["generated_arrivals"] == 400 and stats["scheduled"] == len(rows) == 400 - stats["dropped"]
    assert 170 <= stats["dropped"] <= 230  # the replica serves 20 of the 40 rps
    t, done = rows["t_intended_s"].to_numpy(), rows["done_s"].to_numpy()
    in_flight = np.array([int(((t < a) & (done > a + 0.005)).sum()) for a in t])
    assert in_flight.max() <= 5 and (in_flight == 4).mean() > 0.5  # a user is free for every sent arrival
    assert des.summary is not None and des.summary["metrics"]["dropped_arrivals"] == stats["dropped"]
    per_second = pd.read_parquet(des.run_dir / "per_second.parquet")
    assert per_second["dropped"].sum() == stats["dropped"]
    fluid = simulate(scenario, tmp_path / "f", SimOptions(mode="fluid"), analyse=False)
    fluid_stats = json.loads((fluid.run_dir / "load-w0.json").read_text())
    assert fluid_stats["dropped"] == pytest.approx(stats["dropped"], rel=0.2)


def test_the_hpa_syncs_at_the_phase_of_the_measured_run(tmp_path: Path) -> None:
    from harness.scenario import load_scenario
    from harness.simulate.calibrate import sync_phase_s

    root = Path(__file__).resolve().parents[2]
    scenario = load_scenario(root / "scenarios" / "spike.yaml", ["load.shape.before=4s", "load.shape.hold=10s",
                                                                 "load.shape.after=4s"])  # fmt: skip
    period = scenario.platform.hpa.sync_period
    for phase in (0.3, 1.7):
        run = simulate(scenario, tmp_path / str(phase), SimOptions(mode="des", hpa_phase_s=phase)).run_dir
        events = [json.loads(line) for line in (run / "events.jsonl").read_text().splitlines()]
        start = next(e["t_s"] for e in events if e["kind"] == "load_start")
        scales = [e["t_s"] for e in events if e["kind"] == "scale"]
        assert scales and all(((t - start) % period) == pytest.approx(phase, abs=1e-3) for t in scales), scales
        assert sync_phase_s(events, period) == pytest.approx(phase, abs=1e-3)  # and it reads back the same
    events = [{"t_s": 10.0, "kind": "load_start"}, {"t_s": 13.5, "kind": "scale", "source": "hpa"}]
    assert sync_phase_s(events, 2.0) == 1.5 and sync_phase_s(events[:1], 2.0) is None
