"""`cargowatch archive`: maintain the Parquet archive the worker writes (sinks/archive.py)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from cargowatch.cli import app
from cargowatch.cli.options import ConfigOption, load_settings

archive_app = typer.Typer(
    help="The Parquet archive of screened and rejected manifests.", no_args_is_help=True
)
app.add_typer(archive_app, name="archive")


@archive_app.command("compact")
def compact_command(
    archive: Path | None = typer.Option(
        None, "--archive", help="Archive directory (default: setting archive_dir)."
    ),
    min_files: int = typer.Option(
        2, "--min-files", min=2, help="Merge a directory only when it has at least this many files."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Merge the small files of each date/lane directory into one file, keeping one row per
    (manifest_id, version). Safe next to running workers: only committed files are merged
    and each directory is swapped atomically."""
    from sinks.archive import ArchiveError, compact_archive

    directory = archive or Path(load_settings(config).archive_dir)
    console = Console(stderr=True)
    try:
        report = compact_archive(directory, min_files=min_files)
    except ArchiveError as exc:
        console.print(f"[red]archive:[/red] {exc}")
        raise typer.Exit(2) from None
    console.print(
        f"compacted {report.directories} directories of {directory}: "
        f"{report.files_in} files → {report.files_out}, {report.rows_in} rows → {report.rows_out} "
        f"({report.rows_in - report.rows_out} duplicates dropped) in {report.seconds:.1f}s"
    )
