"""What every `sparrow` command shares: the console, the settings, common options."""

from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

from sparrow.config import Settings, load_settings, with_overrides

M = TypeVar("M", bound=BaseModel)

console = Console(soft_wrap=True)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (env SPARROW_* overrides it).")
]
BuildOption = Annotated[Path, typer.Option(help="A build directory (from sparrow features build).")]
# the [store] block's options, shared by serve, store and stream
StoreOption = Annotated[
    str | None, typer.Option(help="Online store: memory or redis (default store.type: memory).")
]
RedisUrlOption = Annotated[
    str | None,
    typer.Option(help="Redis URL (default store.redis_url: redis://127.0.0.1:6379/0)."),
]
PrefixOption = Annotated[
    str | None, typer.Option(help="Prefix of every Redis key (default store.prefix: sparrow).")
]
EngineOption = Annotated[
    str | None,
    typer.Option(
        help="Batch engine of the features: duckdb (embedded, the default; 'embedded' is an"
        " alias) or spark (pip extra 'spark')."
    ),
]


def settings_from(config: Path | None) -> Settings:
    return load_settings(config)


def with_options(model: M, options: Mapping[str, object], **renamed: str) -> M:
    """`model` (a settings block) with the command's options that were given (not None), taken
    by field name (`renamed`: field="option" where the option is named otherwise)."""
    given = {name: options.get(renamed.get(name, name)) for name in type(model).model_fields}
    return with_overrides(model, **given)


def comma_list(text: str | None) -> list[str] | None:
    """`a,b` -> ["a", "b"]; "" or "none" -> [] (nothing of that kind); None -> None (defaults)."""
    if text is None:
        return None
    if text.strip().lower() in ("", "none"):
        return []
    return [part.strip() for part in text.split(",") if part.strip()]
