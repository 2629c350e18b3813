"""`cargowatch traders`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("traders")
def traders_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch traders: not yet implemented[/yellow]")
    raise SystemExit(3)
