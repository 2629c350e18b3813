"""`cargowatch refdata`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("refdata")
def refdata_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch refdata: not yet implemented[/yellow]")
    raise SystemExit(3)
