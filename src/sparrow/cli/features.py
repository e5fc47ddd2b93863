"""`sparrow features`: leak-free training samples and online features of a dataset."""

from pathlib import Path
from typing import Annotated

import typer

from sparrow.cli.common import ConfigOption, EngineOption, console, settings_from, with_options

features_app = typer.Typer(
    help="Build leak-free training samples and online features.", no_args_is_help=True
)


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
    engine: EngineOption = None,
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
    from sparrow.artifacts.layout import BuildDir
    from sparrow.features.pipeline import build
    from sparrow.features.report import render

    given = locals() | {"sparrow_compat": sparrow_compat or None}  # absent: the settings'
    params = with_options(settings_from(config).features, given)
    manifest = build(data, out, params, until=until, progress=True)
    console.print(render(manifest))
    details = BuildDir(out).manifest_path
    console.print(f"[green]wrote:[/green] {out}  (details in {details})")
