"""``python -m cargowatch`` is the ``cargowatch`` command."""

from cargowatch.cli import main

main()
