"""Our users' HTTP client (harness/load/client.py) through the real load process: what is a failure, what
is decoded, and how requests spread over connections."""

from __future__ import annotations

import gzip
import json
from typing import Any

from harness.procs import free_port
from tests.load.conftest import Target, _drain_body, fast_app, load_log, run_load


def test_a_status_outside_2xx_is_a_failed_row_as_locust_records_it(serve, tmp_path):
    target = Target()
    url = serve(fast_app(target))
    result = run_load(tmp_path, url, {"rate_rps": 20, "duration": "0.5s", "endpoint": "/missing"})
    assert result.code == 0, load_log(result)
    rows = result.rows
    assert len(rows) == target.count == 10
    assert (rows["status"] == 404).all() and not rows["ok"].any()
    assert rows["error"].str.fullmatch(rf"LocustBadStatusCode: URL {url}/missing: code=404").all(), rows["error"]


def test_a_refused_connection_is_a_failed_row_and_the_run_still_ends(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = run_load(tmp_path, url, {"rate_rps": 20, "duration": "0.5s", "max_concurrency": 4})
    assert result.code == 0, load_log(result)
    (stats,) = result.stats
    assert stats["scheduled"] + stats["dropped"] == 10 and len(result.rows) == stats["scheduled"] > 0
    assert not result.rows["ok"].any() and (result.rows["status"] == 0).all()
    assert result.rows["error"].str.startswith("ConnectionRefusedError").all(), result.rows["error"]


def _gzip_usage_app(target: Target) -> Any:
    body = gzip.compress(json.dumps({"choices": [{"text": "hi"}], "usage": {"completion_tokens": 7}}).encode())

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await _drain_body(receive)
        target.count += 1
        target.headers.append({k.decode(): v.decode() for k, v in scope["headers"]})
        headers = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def test_an_encoded_answer_is_decoded_for_its_length_and_usage(serve, tmp_path):
    target = Target()
    url = serve(_gzip_usage_app(target))
    workload = {"kind": "completions", "stream": False, "output_tokens": {"mean": 7}}
    result = run_load(tmp_path, url, {"rate_rps": 10, "duration": "0.5s", "workload": workload})
    assert result.code == 0, load_log(result)
    rows = result.rows
    assert len(rows) == target.count == 5 and rows["ok"].all()
    assert (rows["tokens_out"] == 7).all()
    decoded = len(json.dumps({"choices": [{"text": "hi"}], "usage": {"completion_tokens": 7}}))
    assert (rows["bytes_out"] == decoded).all()
    assert target.headers[0]["accept-encoding"] == "gzip, deflate, br"


def _redirect_app(target: Target) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await _drain_body(receive)
        target.count += 1
        target.paths[scope["path"]] = target.paths.get(scope["path"], 0) + 1
        headers = [(b"location", b"/elsewhere"), (b"content-length", b"0")]
        await send({"type": "http.response.start", "status": 307, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    return app


def test_a_redirect_is_a_failure_and_is_not_followed(serve, tmp_path):
    target = Target()
    url = serve(_redirect_app(target))
    result = run_load(tmp_path, url, {"rate_rps": 10, "duration": "0.5s"})
    assert result.code == 0, load_log(result)
    assert set(target.paths) == {"/v1/predict"} and target.count == 5
    assert (result.rows["status"] == 307).all() and not result.rows["ok"].any()


def _client_port_app(target: Target) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await _drain_body(receive)
        target.count += 1
        port = str(scope["client"][1])
        target.paths[port] = target.paths.get(port, 0) + 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    return app


def test_each_user_keeps_one_connection_and_the_arrivals_go_round_them(serve, tmp_path):
    # Per-connection balancers (kube-proxy) see the load spread over every user's connection.
    target = Target()
    url = serve(_client_port_app(target))
    result = run_load(tmp_path, url, {"rate_rps": 40, "duration": "1s", "max_concurrency": 4})
    assert result.code == 0, load_log(result)
    assert target.count == 40 and len(target.paths) == 4, target.paths
    assert sorted(target.paths.values()) == [10, 10, 10, 10]
