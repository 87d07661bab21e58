"""``python -m harness.platform.local``: run the local platform daemon (see daemon.py)."""

from harness.platform.local.daemon import main

main()
