"""kibench: load-testing and resilience benchmarks for AI inference services on Kubernetes.

The command line (``kibench``) and the scenario file are the main interfaces; the Python API is small.
"""

from harness.errors import HarnessError

__version__ = "0.1.0"
__all__ = ["HarnessError", "__version__"]
