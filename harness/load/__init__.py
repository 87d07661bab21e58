"""Load generation: Locust in a process of its own, open-model arrivals, per-request Parquet rows.

The orchestrator imports ``harness.load.config`` and ``harness.load.launcher`` (no Locust there);
``harness.load.process`` is the Locust side and runs only inside the load process, because Locust
monkey-patches the standard library on import.  Nothing is imported here for that reason.
"""
