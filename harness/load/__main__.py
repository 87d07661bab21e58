"""``python -m harness.load``: run one load process (see process.py).

Locust is imported first, before any other module of the process: it monkey-patches the standard library.
"""

import locust  # noqa: F401

from harness.load.process import main

main()
