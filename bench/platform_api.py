"""The embedded Kubernetes API's speed: list latency and store-to-watcher latency, over real HTTP.

    .venv/bin/python bench/platform_api.py [--pods 64] [--lists 1000] [--changes 300] [--interval-ms 10]

Starts the API server (harness/platform/local/apiserver) in a child process, fills ``--pods`` pods with
kubelet-like status, then from this process, with one persistent httpx client:
- lists the pods ``--lists`` times, as plain JSON and as a Table (``kubectl get``'s form): p50/p99 ms
  (goal: p50 <= 2 ms for 64 pods, JSON);
- opens an HTTP watch and has the server ``store.mutate`` one pod every ``--interval-ms``; each change stamps the
  pod with ``time.monotonic_ns()`` inside ``mutate`` and the watcher subtracts that from the moment it has decoded
  the event line: p50/p99 ms (goal: p99 <= 20 ms).  CLOCK_MONOTONIC is shared by both processes.
Both over TLS (what kubectl needs to send a token) and over plain HTTP, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402

TOKEN = "bench-token"
STAMP = "bench.kibench.io/mutated-ns"


def _pod(i: int) -> dict[str, Any]:
    now = "2025-01-01T00:00:00Z"
    return {
        "metadata": {"name": f"web-{i:03d}", "labels": {"app": "web", "pod-template-hash": "5d9f7c"}},
        "spec": {"nodeName": f"node-{i % 4}", "containers": [{"name": "main", "image": "kibench/echo:1"}]},
        "status": {
            "phase": "Running",
            "podIP": f"10.244.0.{i}",
            "startTime": now,
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": now}
                for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")
            ],  # noqa: E501
            "containerStatuses": [
                {
                    "name": "main",
                    "image": "kibench/echo:1",
                    "imageID": "sha256:0",
                    "ready": True,
                    "restartCount": 0,
                    "started": True,
                    "state": {"running": {"startedAt": now}},
                }  # fmt: skip
            ],
        },
    }


def serve(pods: int, tls: bool) -> None:
    """Child process: the server, plus a stdin command ``mutate N INTERVAL_S``."""
    from harness.platform.local.apiserver import ApiServer, Store

    async def main() -> None:
        store = Store()
        for i in range(pods):
            store.create("pods", "default", _pod(i))
        server = ApiServer(store, TOKEN, tls=tls)
        url = await server.start()
        ca = server.ca_pem.decode() if server.ca_pem else None
        print(json.dumps({"url": url, "ca": ca}), flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        async def mutate(count: int, interval_s: float) -> None:
            def stamp(pod: dict[str, Any]) -> None:
                pod["metadata"].setdefault("annotations", {})[STAMP] = str(time.monotonic_ns())

            for n in range(count):
                store.mutate("pods", "default", f"web-{n % pods:03d}", stamp)
                await asyncio.sleep(interval_s)

        def read_commands() -> None:
            for line in sys.stdin:
                words = line.split()
                if words and words[0] == "mutate":
                    asyncio.run_coroutine_threadsafe(mutate(int(words[1]), float(words[2])), loop)
            loop.call_soon_threadsafe(done.set)

        threading.Thread(target=read_commands, daemon=True).start()
        await done.wait()
        await server.stop()

    asyncio.run(main())


def _percentiles(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def measure(args: argparse.Namespace, tls: bool) -> dict[str, tuple[float, float]]:
    argv = [sys.executable, __file__, "--serve", "--pods", str(args.pods)] + ([] if tls else ["--plain"])
    child = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdin is not None
    info = json.loads(child.stdout.readline())
    verify: Any = True
    if info["ca"]:
        from harness.platform.local.apiserver.tls import client_context

        verify = client_context(info["ca"].encode())
    results: dict[str, tuple[float, float]] = {}
    headers = {"Authorization": f"Bearer {TOKEN}"}
    table = {**headers, "Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    try:
        with httpx.Client(base_url=info["url"], verify=verify, headers=headers, timeout=30) as http:
            for label, extra in (("list", {}), ("list as=Table", table)):
                samples = []
                for i in range(args.lists + 50):
                    t0 = time.perf_counter()
                    response = http.get("/api/v1/namespaces/default/pods", headers=extra)
                    elapsed = (time.perf_counter() - t0) * 1000
                    assert (
                        response.status_code == 200
                        and len(response.json()["items" if not extra else "rows"]) == args.pods
                    )  # noqa: E501
                    if i >= 50:  # warm-up
                        samples.append(elapsed)
                results[f"{label} {args.pods} pods"] = _percentiles(samples)
            rv = http.get("/api/v1/pods").json()["metadata"]["resourceVersion"]
            latencies: list[float] = []
            params = {"watch": "true", "resourceVersion": rv}
            with http.stream("GET", "/api/v1/namespaces/default/pods", params=params) as stream:
                child.stdin.write(f"mutate {args.changes} {args.interval_ms / 1000}\n")
                child.stdin.flush()
                for line in stream.iter_lines():
                    if not line:
                        continue
                    event = json.loads(line)
                    received = time.monotonic_ns()
                    stamp = event["object"]["metadata"].get("annotations", {}).get(STAMP)
                    if event["type"] == "MODIFIED" and stamp:
                        latencies.append((received - int(stamp)) / 1e6)
                    if len(latencies) >= args.changes:
                        break
            results["store.mutate -> HTTP watcher"] = _percentiles(latencies)
    finally:
        child.stdin.close()
        child.wait(timeout=30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=64)
    parser.add_argument("--lists", type=int, default=1000)
    parser.add_argument("--changes", type=int, default=300)
    parser.add_argument("--interval-ms", type=float, default=10.0)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plain", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.pods, tls=not args.plain)
        return
    runs = {"TLS": measure(args, tls=True), "plain HTTP": measure(args, tls=False)}
    print(f"{'':34}{'TLS p50/p99 ms':>18}{'plain p50/p99 ms':>20}   goal")
    goals = {"list": "p50 <= 2 ms", "store": "p99 <= 20 ms"}
    for key in runs["TLS"]:
        cells = [f"{runs[r][key][0]:.2f} / {runs[r][key][1]:.2f}" for r in runs]
        goal = goals["store"] if key.startswith("store") else (goals["list"] if "Table" not in key else "")
        print(f"{key:34}{cells[0]:>18}{cells[1]:>20}   {goal}")


if __name__ == "__main__":
    main()
