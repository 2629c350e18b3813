"""`cargowatch screen`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("screen")
def screen_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch screen: not yet implemented[/yellow]")
    raise SystemExit(3)
