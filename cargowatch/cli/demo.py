"""`cargowatch demo`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("demo")
def demo_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch demo: not yet implemented[/yellow]")
    raise SystemExit(3)
