"""`cargowatch dashboard`: the officers' and operations teams' alert board (sinks/dashboard)."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import signal
import sys
from pathlib import Path

import typer
from rich.console import Console

from cargowatch.cli import app
from cargowatch.cli.options import ConfigOption, load_settings

dashboard_app = typer.Typer(
    help="The live alert board: serve it, or manage its users.",
    invoke_without_command=True,
)
app.add_typer(dashboard_app, name="dashboard")
console = Console(stderr=True)
# The accounts `cargowatch demo` prints; created only with --demo-user.
DEMO_ACCOUNTS = (
    ("officer", "officer-demo", "officer", "Demo Officer"),
    ("viewer", "viewer-demo", "viewer", "Demo Viewer"),
)


@dashboard_app.callback()
def dashboard_command(
    ctx: typer.Context,
    port: int | None = typer.Option(
        None, "--port", help="Port (default: setting dashboard_port, 8089)."
    ),
    host: str | None = typer.Option(
        None, "--host", help="Bind address (default: setting http_host, 127.0.0.1)."
    ),
    demo_user: bool = typer.Option(
        False,
        "--demo-user",
        help="Create the demo accounts first: officer / officer-demo (officer) and "
        "viewer / viewer-demo (viewer). For demos only.",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Serve the dashboard until Ctrl-C or SIGTERM: the board is rebuilt from the topics,
    then follows them live. Needs CARGOWATCH_KAFKA_BOOTSTRAP and a users file (create one
    with `cargowatch dashboard adduser`)."""
    if ctx.invoked_subcommand is not None:
        return
    from sinks.dashboard import UserFileError, dashboard_url, start_dashboard

    settings = load_settings(config, http_host=host)
    settings.require_kafka()
    if demo_user:
        from sinks.dashboard import add_user, users_path

        for username, password, role, name in DEMO_ACCOUNTS:
            add_user(users_path(settings), username, password, role, name)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        try:
            runner = await start_dashboard(settings, port)
        except UserFileError as exc:
            console.print(f"[red]dashboard:[/red] {exc}")
            raise typer.Exit(2) from None
        except OSError as exc:
            console.print(
                f"[red]dashboard:[/red] cannot listen on {settings.http_host}:{port or settings.dashboard_port}: {exc.strerror or exc}"
            )
            raise typer.Exit(2) from None
        console.print(f"dashboard on [bold]{dashboard_url(runner)}[/bold] (Ctrl-C to stop)")
        try:
            await stop.wait()
        finally:
            await runner.cleanup()

    asyncio.run(serve())


@dashboard_app.command("adduser")
def adduser_command(
    username: str = typer.Argument(..., help="Login name (letters, digits, . _ - @)."),
    role: str = typer.Option(
        "officer", "--role", help="officer (may decide) or viewer (may only look)."
    ),
    name: str = typer.Option("", "--name", help="Full name shown on the board."),
    users_file: Path | None = typer.Option(
        None,
        "--users-file",
        help="Users file (default: setting users_file, else <state_dir>/dashboard-users.json).",
    ),
    password_stdin: bool = typer.Option(
        False,
        "--password-stdin",
        help="Read the password from standard input instead of prompting.",
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Create or replace a dashboard account; the password is stored as a salted scrypt hash."""
    from sinks.dashboard import UserFileError, add_user, users_path

    path = users_file or users_path(load_settings(config))
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            console.print("[red]adduser:[/red] the passwords differ")
            raise typer.Exit(2)
    try:
        user = add_user(path, username, password, role, name)
    except UserFileError as exc:
        console.print(f"[red]adduser:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(f"{user.role} {user.username} saved in {path}")
