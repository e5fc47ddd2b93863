"""`sparrow <group> <verb>`: the command line of every offline step.

Errors the user can fix print one line and exit non-zero (codes in `sparrow.errors`).
"""

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sparrow.config import Settings, load_settings, with_overrides
from sparrow.errors import SparrowError

app = typer.Typer(
    help="Sparrow RecSys: a movie recommender you can read, run and extend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Get, inspect and synthesise MovieLens datasets.", no_args_is_help=True)
features_app = typer.Typer(
    help="Build leak-free training samples and online features.", no_args_is_help=True
)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")

console = Console(soft_wrap=True)
ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (env SPARROW_* overrides it).")
]


def _settings(config: Path | None) -> Settings:
    return load_settings(config)


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

    settings = _settings(config)
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


@features_app.command("build")
def features_build(
    data: Annotated[Path, typer.Option(help="A MovieLens dataset folder.")],
    out: Annotated[Path, typer.Option(help="Build directory to write (replaced atomically).")],
    until: Annotated[
        int | None,
        typer.Option(
            help="Build as if the clock were at this Unix time: later ratings are ignored."
        ),
    ] = None,
    split: Annotated[str | None, typer.Option(help="time (default) or random.")] = None,
    test_fraction: Annotated[
        float | None, typer.Option(help="Share of ratings in the test split (default 0.2).")
    ] = None,
    sample: Annotated[
        float | None,
        typer.Option(
            help="Keep this seeded fraction of samples (default 1; the original used 0.1)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed for sampling and the random split (default 42).")
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(help="Batch engine: duckdb (embedded, default) or spark (pip extra 'spark')."),
    ] = None,
    spark_master: Annotated[
        str | None,
        typer.Option(
            help="Spark master URL: local\\[N], spark://HOST:7077, yarn, k8s://..."
            " (default local\\[*])."
        ),
    ] = None,
    sparrow_compat: Annotated[
        bool,
        typer.Option(
            "--sparrow-compat", help="The original's leaky definitions, for comparison only."
        ),
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Build point-in-time train/test samples (the original's 27 columns) and online features.

    Examples:

      sparrow features build --data data/ml-latest-small --out build/small

      sparrow features build --data data/ml-25m --out build/bt --until 1500000000 --sample 0.1

      sparrow features build --data data/ml-25m --out build/s --engine spark

    The build directory holds samples/, features/, catalog/ and manifest.json
    (docs/features.md); a failed build leaves the previous one untouched.
    """
    from sparrow.features.pipeline import build
    from sparrow.features.report import render

    params = with_overrides(
        _settings(config).features, split=split, test_fraction=test_fraction, sample=sample,
        seed=seed, engine=engine, spark_master=spark_master, sparrow_compat=sparrow_compat or None,
    )  # fmt: skip
    manifest = build(data, out, params, until=until, progress=True)
    console.print(render(manifest))
    console.print(f"[green]wrote:[/green] {out}  (details in {out / 'manifest.json'})")


def main() -> None:
    """Console-script entry point: a SparrowError becomes one line and an exit code."""
    try:
        app()
    except SparrowError as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False
        )
        sys.exit(exc.exit_code)
