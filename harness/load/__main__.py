"""``python -m harness.load``: run one load process (see process.py)."""

from harness.load.process import main

main()
