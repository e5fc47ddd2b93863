"""`sparrow data`: get, inspect and synthesise MovieLens datasets."""

from pathlib import Path
from typing import Annotated

import typer

from sparrow.cli.common import ConfigOption, console, settings_from

data_app = typer.Typer(help="Get, inspect and synthesise MovieLens datasets.", no_args_is_help=True)


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. ml-latest-small, ml-1m, ml-25m.")],
    dest: Annotated[
        Path | None,
        typer.Option(
            help="Folder to put the dataset folder in (default: $SPARROW_DATA, else ./data)."
        ),
    ] = None,
    mirror: Annotated[
        str | None,
        typer.Option(
            help="Base URL serving NAME.zip (default: GroupLens, or $SPARROW_DATA_MIRROR)."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Download, verify and unpack a MovieLens archive (never leaves a half dataset)."""
    from sparrow.data.download import fetch

    settings = settings_from(config)
    folder = fetch(name, dest or settings.data or Path("data"), mirror or settings.data_mirror)
    console.print(f"[green]ready:[/green] {folder}")


@data_app.command("info")
def data_info(
    path: Annotated[Path, typer.Argument(help="A MovieLens dataset folder (any official layout).")],
) -> None:
    """Summarise a dataset: users, items, ratings, time range, rating histogram, genres."""
    from sparrow.data.movielens import load
    from sparrow.data.summary import render, summarize

    console.print(render(summarize(load(path))))


@data_app.command("synth")
def data_synth(
    out: Annotated[Path, typer.Option(help="Dataset folder to create (ml-latest layout).")],
    users: Annotated[int, typer.Option(min=1, help="Number of users.")] = 10_000,
    items: Annotated[int, typer.Option(min=1, help="Number of movies.")] = 5_000,
    ratings: Annotated[int, typer.Option(min=1, help="Number of ratings.")] = 1_000_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same files).")] = 42,
) -> None:
    """Write a synthetic dataset with realistic skew, for scale tests and benchmarks."""
    from sparrow.data.synthetic import generate

    folder = generate(out, users=users, items=items, ratings=ratings, seed=seed)
    console.print(f"[green]wrote:[/green] {folder}")
