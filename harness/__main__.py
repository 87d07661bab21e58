"""``python -m harness``: the ``kibench`` command (the harness image's entrypoint on the embedded cluster)."""

from harness.cli import main

main()
