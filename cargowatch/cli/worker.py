"""`cargowatch worker`."""

from __future__ import annotations

from cargowatch.cli import app, err


@app.command("worker")
def worker_command() -> None:
    """Not yet implemented."""
    err.print("[yellow]cargowatch worker: not yet implemented[/yellow]")
    raise SystemExit(3)
