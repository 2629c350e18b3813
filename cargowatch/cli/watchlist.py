"""`cargowatch watchlist`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("watchlist")
def watchlist_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch watchlist: not yet implemented[/yellow]")
    raise SystemExit(3)
