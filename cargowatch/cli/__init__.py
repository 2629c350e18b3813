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
        backtest,
        bench,
        dashboard,
        deliver,
        demo,
        generate,
        produce,
        quality,
        refdata,
        screen,
        traders,
        watchlist,
        worker,
    )


_OUR_PACKAGES = {"cargowatch", "schemas", "enrichers", "streams", "sinks"}


def _is_ours(exc: BaseException) -> bool:
    """Errors raised by our own modules (RulesetError, RefDataError, ...) carry a message
    written for people; anything else is a bug and keeps its traceback."""
    return type(exc).__module__.split(".")[0] in _OUR_PACKAGES


def main() -> None:
    """Entry point of the console script: a clear one-line error, not a traceback, for
    bad configuration, bad input files and unreachable services."""
    _register()
    try:
        app()
    except ConfigError as exc:
        err.print(f"[red]configuration error:[/red] {exc}")
        sys.exit(2)
    except (ValueError, OSError, RuntimeError, LookupError) as exc:
        if not _is_ours(exc):
            raise
        err.print(f"[red]error:[/red] {exc}")
        sys.exit(2)
