"""The ``cargowatch`` command line. Each command lives in its own module here and stays
thin: it parses options, builds Settings, and calls the stage that does the work."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from cargowatch.settings import ConfigError

app = typer.Typer(
    name="cargowatch",
    help="Stream screening of advance cargo manifests: validate, enrich, score, route.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


def _register() -> None:
    # Imported here so each module can register its own commands on `app`.
    from cargowatch.cli import (  # noqa: F401
        archive,
        bench,
        dashboard,
        demo,
        generate,
        produce,
        refdata,
        screen,
        traders,
        watchlist,
        worker,
    )


def main() -> None:
    """Entry point of the console script: clean one-line errors instead of tracebacks for
    configuration problems."""
    _register()
    try:
        app()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        sys.exit(2)
