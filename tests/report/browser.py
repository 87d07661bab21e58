"""Open a page in headless Chromium (Debian's package) over the DevTools protocol: console errors, requests.

``find_chromium()`` gives the binary or None (tests skip with the reason); ``open_page(path)`` loads a
file:// URL and returns what the page did: console errors and exceptions, every URL it requested,
the text of ``#verdict``, whether every image decoded, and a PNG screenshot.  Install Chromium with
``make browser`` (``scripts/ensure-browser.sh``: apt-get install chromium-headless-shell).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "headless_shell")


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageResult:
    console_errors: list[str] = field(default_factory=list)
    requested: list[str] = field(default_factory=list)
    verdict: str | None = None
    images_ok: bool = False
    image_count: int = 0
    title: str = ""
    screenshot: bytes = b""


def open_page(path: Path, timeout_s: float = 30.0) -> PageResult:
    import websocket  # websocket-client (a dev dependency)

    exe = find_chromium()
    assert exe, "no Chromium"
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.Popen(
            [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "--window-size=1280,2000", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            port = _devtools_port(proc, timeout_s)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
                targets = json.load(resp)
            page = next(t for t in targets if t.get("type") == "page")
            ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=timeout_s, suppress_origin=True)
            try:
                return _drive(ws, path.resolve().as_uri(), timeout_s)
            finally:
                ws.close()
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _devtools_port(proc: subprocess.Popen[str], timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
        if match:
            return int(match.group(1))
        if not line and proc.poll() is not None:
            break
    raise RuntimeError("Chromium did not start its DevTools endpoint")


def _drive(ws: Any, url: str, timeout_s: float) -> PageResult:
    ids = itertools.count(1)
    result = PageResult()
    loaded = False

    def send(method: str, **params: Any) -> int:
        msg_id = next(ids)
        ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        return msg_id

    def handle(msg: dict[str, Any]) -> None:
        nonlocal loaded
        method, params = msg.get("method"), msg.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            result.console_errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            result.console_errors.append(str(params["exceptionDetails"].get("text")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            result.console_errors.append(f"{params['entry'].get('source')}: {params['entry'].get('text')}")
        elif method == "Network.requestWillBeSent":
            result.requested.append(params["request"]["url"])
        elif method == "Page.loadEventFired":
            loaded = True

    def call(method: str, **params: Any) -> dict[str, Any]:
        want = send(method, **params)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("id") == want:
                return msg.get("result", {})
            handle(msg)
        raise TimeoutError(method)

    for domain in ("Runtime", "Log", "Network", "Page"):
        call(f"{domain}.enable")
    call("Page.navigate", url=url)
    deadline = time.monotonic() + timeout_s
    while not loaded and time.monotonic() < deadline:
        handle(json.loads(ws.recv()))
    assert loaded, "the page never fired its load event"
    probe = (
        "JSON.stringify({v: (document.getElementById('verdict') || {}).textContent || null, t: document.title,"
        " n: document.images.length,"
        " ok: Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)})"
    )
    value = json.loads(call("Runtime.evaluate", expression=probe, returnByValue=True)["result"]["value"])
    result.verdict, result.title, result.image_count, result.images_ok = value["v"], value["t"], value["n"], value["ok"]
    shot = call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
    result.screenshot = base64.b64decode(shot.get("data", ""))
    return result
