"""`cargowatch generate`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("generate")
def generate_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch generate: not yet implemented[/yellow]")
    raise SystemExit(3)
