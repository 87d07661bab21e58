"""The reference inference service: an emulated GPU server (also the container entrypoint)."""

from harness.service.app import ServiceConfig, create_app

__all__ = ["ServiceConfig", "create_app"]
