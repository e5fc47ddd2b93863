"""What every `sparrow` command shares: the console, the settings, common options."""

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sparrow.config import Settings, load_settings

console = Console(soft_wrap=True)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (env SPARROW_* overrides it).")
]
BuildOption = Annotated[Path, typer.Option(help="A build directory (from sparrow features build).")]


def settings_from(config: Path | None) -> Settings:
    return load_settings(config)
