"""`cargowatch produce`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("produce")
def produce_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch produce: not yet implemented[/yellow]")
    raise SystemExit(3)
