"""``python -m harness.service``: start one replica (the container command of the reference image).

In: flags (or the environment: KIBENCH_PORT, KIBENCH_PROFILE, ...); ``--config JSON`` (the scenario's
service section; env KIBENCH_SERVICE_CONFIG, as the Kubernetes manifests set it) overrides the model
flags.  KIBENCH_ADMIN_TOKEN and KIBENCH_STATE_DIR are read from the environment.
Out: a serving process; exit 2 with a message for a bad configuration.
"""

from __future__ import annotations

import argparse
import os
import sys

from harness.service.config import ServiceConfigError, config_from_flags, config_from_section
from harness.service.server import serve


def main(argv: list[str] | None = None) -> None:
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m harness.service")
    parser.add_argument("--host", default=env.get("KIBENCH_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env.get("KIBENCH_PORT", "8000")))
    parser.add_argument("--replica", default=env.get("KIBENCH_REPLICA", env.get("HOSTNAME", "replica-0")))
    parser.add_argument("--profile", default=env.get("KIBENCH_PROFILE"), help="a named profile (docs/service.md)")
    parser.add_argument("--backend", default=env.get("KIBENCH_BACKEND", "emulated"), choices=["emulated", "torch"])
    parser.add_argument("--device-time-ms", type=float, default=float(env.get("KIBENCH_DEVICE_TIME_MS", "50")))
    parser.add_argument("--cold-start-s", type=float, default=float(env.get("KIBENCH_COLD_START_S", "0")))
    parser.add_argument(
        "--config",
        default=env.get("KIBENCH_SERVICE_CONFIG"),
        help="the scenario's service section as JSON (overrides the flags; env KIBENCH_SERVICE_CONFIG)",
    )
    parser.add_argument("--grace-s", type=float, default=float(env.get("KIBENCH_GRACE_S", "30")))
    args = parser.parse_args(argv)
    try:
        if args.config:
            config = config_from_section(args.config, args.replica)
        else:
            config = config_from_flags(args.replica, args.profile, backend=args.backend,
                                       device_time_ms=args.device_time_ms, cold_start_s=args.cold_start_s)  # fmt: skip
    except ServiceConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    serve(config.with_env(env), host=args.host, port=args.port, grace_s=args.grace_s)


if __name__ == "__main__":
    main()
