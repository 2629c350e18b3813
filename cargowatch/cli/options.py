"""Options shared by several commands, declared once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from cargowatch.settings import Settings

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    help="YAML config file (default: $CARGOWATCH_CONFIG, else ./cargowatch.yaml if present). "
    "Environment variables CARGOWATCH_<SETTING> override it.",
    exists=True,
    dir_okay=False,
)


def load_settings(config: Path | None, **overrides: Any) -> Settings:
    return Settings.load(config, **overrides)
