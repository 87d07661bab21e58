"""``python -m harness.service``: start one replica (used by the local platform's supervisor)."""

from __future__ import annotations

import argparse
import os

from harness.service.app import ServiceConfig
from harness.service.config import config_from_section
from harness.service.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.service")
    parser.add_argument("--host", default=os.environ.get("KIBENCH_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("KIBENCH_PORT", "8000")))
    parser.add_argument("--replica", default=os.environ.get("KIBENCH_REPLICA", os.environ.get("HOSTNAME", "replica-0")))
    parser.add_argument("--device-time-ms", type=float, default=float(os.environ.get("KIBENCH_DEVICE_TIME_MS", "50")))
    parser.add_argument("--cold-start-s", type=float, default=float(os.environ.get("KIBENCH_COLD_START_S", "0")))
    parser.add_argument("--config", default=None, help="the scenario's service section as JSON (overrides the flags)")
    parser.add_argument("--grace-s", type=float, default=float(os.environ.get("KIBENCH_GRACE_S", "30")))
    args = parser.parse_args(argv)
    if args.config:
        config = config_from_section(args.config, args.replica)
    else:
        config = ServiceConfig(replica=args.replica, device_time_ms=args.device_time_ms, cold_start_s=args.cold_start_s)
    serve(config, host=args.host, port=args.port, grace_s=args.grace_s)


if __name__ == "__main__":
    main()
