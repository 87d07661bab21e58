"""Per-request balancing (an ingress) on HAProxy when its binary is installed: its config, process, backends.

In: a request-mode Service's listening socket (haproxy inherits it: ``bind fd@N``), how long the proxy may
wait on a pod or a client (``timeout_s``), and the Service's Ready endpoints whenever they change.
Out: one ``haproxy`` child process per such Service, started and recorded as the forwarder is (SIGTERM when
the daemon dies, its own session, stopped at shutdown, restarted on the same socket if it dies), whose
backend follows the Ready pods through HAProxy's runtime API (``stats socket``, a unix socket in the
cluster's temp dir): a ``server-template`` of ``SLOTS`` slots, each pointed at a pod
(``set server be/sK addr IP port P``) and set ``ready``, or set ``maint`` when the pod leaves.
``find()`` says whether HAProxy can be used, or why not (``KIBENCH_INGRESS=forwarder`` turns it off).

What it does, as an ingress controller does (docs/local-platform.md):
- ``balance roundrobin``: the forwarder's policy and ingress-nginx's default, so a run measures the same
  policy whichever stack carried it (``leastconn`` would steer around a slow replica and hide its backlog).
- ``http-reuse safe`` (HAProxy's recommended strategy, stated): pooled keep-alive connections to the pods;
  the first request of a client connection never rides an idle connection a pod may be closing.
- A pod set to ``maint`` gets no new request at once; requests in flight on it finish (HAProxy does not cut
  them, as ingress-nginx lets them finish when an endpoint leaves); its idle connections are closed.  A pod
  that dies mid-request: 502.  A refused connect is retried once on the next pod (``retries 1``,
  ``option redispatch 1``, ``retry-on conn-failure``: never a request the pod may have seen).
- ``timeout server`` / ``client`` / ``http-keep-alive`` = ``timeout_s``, which the scenario sets above its
  request deadlines, so the proxy never ends a request the client or the service still waits for.
- The forwarder's error bodies: 503 ``{"error": "no ready replicas"}``, 502 ``{"error": "upstream failed"}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import socket
import subprocess
from collections import deque
from dataclasses import dataclass, field

from harness.procs import preexec, stop

ENV = "KIBENCH_INGRESS"  # "haproxy" (default: when installed) or "forwarder"
SLOTS = 256  # backend slots: replicas are at most 64, so a slot is reused only after 256 distinct pods
BACKEND = "be"
START_TIMEOUT_S = 10.0
COMMANDS_PER_CALL = 64  # one runtime-API line stays well inside HAProxy's 16 kB buffer
SBIN = ("/usr/local/sbin", "/usr/sbin")
Endpoint = tuple[str, int]


def find(path: str | None = None) -> tuple[str | None, str]:
    """(path of haproxy, "") when per-request balancing can run on it, else (None, why not).

    Looked up on ``path`` (default: $PATH, then the sbin folders, where Debian puts it and a user's PATH
    may not reach)."""
    choice = os.environ.get(ENV, "haproxy").strip().lower()
    if choice == "forwarder":
        return None, f"{ENV}=forwarder"
    if path is None:
        path = os.pathsep.join([os.environ.get("PATH", ""), *SBIN])
    binary = shutil.which("haproxy", path=path)
    if binary is None:
        return None, "haproxy is not installed (scripts/ensure-haproxy.sh installs it)"
    return binary, ""


@functools.cache
def version(binary: str) -> str:
    """``2.6.12-1+deb12u4`` from ``haproxy -v``, or ``unknown``."""
    try:
        out = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    words = out.split()
    return words[2] if len(words) > 2 and words[1].lower() == "version" else "unknown"


def render_config(listen_fd: int, stats_socket: str, timeout_s: float, slots: int = SLOTS) -> str:
    """The haproxy.cfg of one Service: a frontend on the inherited socket, a backend of ``slots`` idle slots."""
    ms = max(int(timeout_s * 1000), 1000)
    return f"""\
global
  nbthread 1
  stats socket {stats_socket} mode 600 level admin
defaults
  mode http
  balance roundrobin
  http-reuse safe
  option http-no-delay
  retries 1
  retry-on conn-failure
  option redispatch 1
  timeout connect 5s
  timeout client {ms}ms
  timeout server {ms}ms
  timeout http-keep-alive {ms}ms
  timeout http-request {ms}ms
  timeout queue {ms}ms
  http-error status 503 content-type application/json string '{{"error": "no ready replicas"}}'
  http-error status 502 content-type application/json string '{{"error": "upstream failed"}}'
  http-error status 504 content-type application/json string '{{"error": "upstream timed out"}}'
frontend ingress
  bind fd@{listen_fd}
  default_backend {BACKEND}
backend {BACKEND}
  server-template s 1-{slots} 127.0.0.1:1 disabled
"""


@dataclass
class Slots:
    """Which backend slot carries which pod; what to tell HAProxy when the Ready pods change (pure)."""

    count: int = SLOTS
    used: dict[Endpoint, int] = field(default_factory=dict)  # Ready pods -> their slot
    last: dict[Endpoint, int] = field(default_factory=dict)  # every pod seen -> the slot it had last
    fresh: int = 1  # the next never-used slot
    freed: deque[int] = field(default_factory=deque)  # slots in maint, oldest first
    left_out: list[Endpoint] = field(default_factory=list)  # Ready pods that found no slot

    def update(self, endpoints: list[Endpoint]) -> list[str]:
        """Runtime-API commands that make the ``ready`` slots exactly ``endpoints`` (gone ones first)."""
        want = set(endpoints)
        commands = []
        for endpoint, slot in list(self.used.items()):
            if endpoint not in want:
                commands.append(f"set server {BACKEND}/s{slot} state maint")
                del self.used[endpoint]
                self.freed.append(slot)
        self.left_out = []
        for endpoint in endpoints:
            if endpoint in self.used:
                continue
            found = self._slot_for(endpoint)
            if found is None:
                self.left_out.append(endpoint)
                continue
            self.used[endpoint] = self.last[endpoint] = slot = found
            ip, port = endpoint
            server = f"{BACKEND}/s{slot}"
            commands += [f"set server {server} addr {ip} port {port}", f"set server {server} state ready"]
        return commands

    def _slot_for(self, endpoint: Endpoint) -> int | None:
        """The pod's own last slot if free, else a never-used one, else the one freed longest ago: a slot's
        requests in flight to its old pod have then long finished."""
        mine = self.last.get(endpoint)
        if mine is not None and mine in self.freed:
            self.freed.remove(mine)
            return mine
        if self.fresh <= self.count:
            self.fresh += 1
            return self.fresh - 1
        if self.freed:
            slot = self.freed.popleft()
            self.last = {e: s for e, s in self.last.items() if s != slot}
            return slot
        return None


def check_reply(reply: str) -> list[str]:
    """The lines of a runtime-API reply that report a failure (``set server`` answers nothing or "IP changed")."""
    return [line for line in reply.splitlines() if line.strip() and not line.startswith("IP changed from")]


class HaproxyIngress:
    """One Service's haproxy: started on the Service's socket, told its Ready pods, restarted if it dies."""

    def __init__(
        self, binary: str, listener: socket.socket, workdir: str, timeout_s: float, log_path: str | None
    ) -> None:
        self.binary, self.listener, self.workdir = binary, listener, workdir
        self.timeout_s, self.log_path = timeout_s, log_path
        self.stats_socket = os.path.join(workdir, "admin.sock")
        self.config_path = os.path.join(workdir, "haproxy.cfg")
        self.proc: subprocess.Popen[bytes] | None = None
        self.slots = Slots()
        self.endpoints: list[Endpoint] = []
        self.restarts = 0
        self.retry_at = 0.0  # monotonic time before which a failed haproxy is not restarted

    async def start(self) -> None:
        """Start haproxy and wait until its runtime API answers; ``RuntimeError`` (with its output) if it cannot."""
        os.makedirs(self.workdir, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.stats_socket)
        fd = self.listener.fileno()
        with open(self.config_path, "w") as cfg:
            cfg.write(render_config(fd, self.stats_socket, self.timeout_s))
        argv = [self.binary, "-db", "-f", self.config_path]
        log = open(self.log_path or os.devnull, "ab")  # noqa: SIM115 - the child holds it; closed below
        try:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, pass_fds=[fd],
                preexec_fn=preexec, start_new_session=True,
            )  # fmt: skip
        finally:
            log.close()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while loop.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"haproxy exited with code {self.proc.returncode}: {self._log_tail()}")
            with contextlib.suppress(OSError):
                await self._call(["show info"])
                self.slots = Slots()
                await self.set_endpoints(self.endpoints, force=True)
                return
            await asyncio.sleep(0.05)
        self.stop()
        raise RuntimeError(f"haproxy's runtime API did not answer within {START_TIMEOUT_S:g}s: {self._log_tail()}")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    async def set_endpoints(self, endpoints: list[Endpoint], force: bool = False) -> list[str]:
        """Point the slots at ``endpoints``; returns the runtime API's complaints (none when all went well)."""
        if endpoints == self.endpoints and not force:
            return []
        self.endpoints = list(endpoints)
        commands = self.slots.update(self.endpoints)
        problems = []
        for i in range(0, len(commands), COMMANDS_PER_CALL):
            problems += check_reply(await self._call(commands[i : i + COMMANDS_PER_CALL]))
        if self.slots.left_out:
            problems.append(f"{len(self.slots.left_out)} Ready pods left out: all {self.slots.count} slots in use")
        return problems

    async def _call(self, commands: list[str]) -> str:
        """One runtime-API connection: the commands on one line, the whole reply (HAProxy closes after it)."""
        reader, writer = await asyncio.open_unix_connection(self.stats_socket)
        try:
            writer.write(("; ".join(commands) + "\n").encode())
            await writer.drain()
            return (await asyncio.wait_for(reader.read(), timeout=5.0)).decode(errors="replace")
        finally:
            writer.close()

    def _log_tail(self) -> str:
        if not self.log_path:
            return "(no log)"
        with contextlib.suppress(OSError), open(self.log_path, errors="replace") as f:
            return " ".join(f.read()[-600:].split()) or "(no output)"
        return "(no log)"

    def stop(self) -> None:
        """Stop haproxy (SIGTERM: it stops at once) and wait for it."""
        if self.proc is not None:
            stop(self.proc, grace_s=3.0)
            self.proc = None

    def close(self) -> None:
        """Stop haproxy and close the Service's socket (the Service is gone)."""
        self.stop()
        self.listener.close()
        shutil.rmtree(self.workdir, ignore_errors=True)
