"""The reference inference service: an emulated GPU server with batching (also the container entrypoint).

In: a ``ServiceConfig`` (or the scenario's service section via ``config_from_section``).  Out:
``create_app`` (the ASGI app) and ``serve`` (uvicorn, signals, drain).  See docs/service.md.
"""

from harness.service.app import create_app
from harness.service.config import ServiceConfig, config_from_section
from harness.service.profiles import profile_names

__all__ = ["ServiceConfig", "config_from_section", "create_app", "profile_names"]
