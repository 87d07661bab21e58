"""Observation: the timeline (sampled platform state) and the event log of a run."""

from harness.observe.recorder import Observer

__all__ = ["Observer"]
