"""`cargowatch bench`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("bench")
def bench_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch bench: not yet implemented[/yellow]")
    raise SystemExit(3)
