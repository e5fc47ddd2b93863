"""`sparrow train`, `sparrow evaluate` and `sparrow models`: the ranking models of a build."""

from typing import Annotated

import typer
from rich.table import Table

from sparrow.cli.common import BuildOption, ConfigOption, console, settings_from, with_options
from sparrow.errors import ConfigError

models_app = typer.Typer(help="The trained models of a build.", no_args_is_help=True)


def train(
    model: Annotated[
        str, typer.Argument(help="Model name (see `sparrow models names`), or `all`.")
    ],
    build: BuildOption,
    epochs: Annotated[int | None, typer.Option(help="Most epochs (default 10).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Rows per step (default 1024).")] = None,
    lr: Annotated[float | None, typer.Option(help="Adam learning rate (default 1e-3).")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="L2 penalty (default 0).")] = None,
    patience: Annotated[
        int | None, typer.Option(help="Stop after this many epochs without a better val AUC.")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 42).")] = None,
    threads: Annotated[int | None, typer.Option(help="Torch threads (default 1).")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option(help="A model setting, key=value, repeatable: --param dim=32."),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Train a ranking model on the build's samples and save it, ONNX-checked, as a new version.

    The last 10% of the training period validates each epoch; the epoch with the best
    validation AUC is kept (early stopping). Writes models/<name>/<version>/ with model.onnx,
    encoders.json, config.json, metrics.json and curves.png.

      sparrow train deepfm --build build/ml-latest-small
      sparrow train din --build build/ml-latest-small --epochs 5 --param dim=32
      sparrow train all --build build/ml-latest-small
    """
    from sparrow.models.registry import model_names
    from sparrow.training.pipeline import parse_params, train_model

    settings = with_options(settings_from(config).training, locals())
    params = parse_params(param or [])
    names = model_names() if model == "all" else [model]
    if model == "all" and params:
        raise ConfigError("--param applies to one model, not to all")
    table = _summary_table()
    for name in names:
        saved = train_model(build, name, settings, params)
        _summary_row(table, saved.name, saved.version, saved.metrics())
        console.print(f"[green]{name}:[/green] {saved.path}")
    console.print(table)


def _summary_table() -> Table:
    table = Table(title="trained models (test split)")
    for column in (
        "model",
        "version",
        "test AUC",
        "test GAUC",
        "logloss",
        "best epoch",
        "samples/s",
        "seconds",
    ):
        table.add_column(column, justify="left" if column == "model" else "right")
    return table


def _summary_row(table: Table, name: str, version: int, m: dict[str, dict[str, float]]) -> None:
    test, training = m["test"], m["training"]
    table.add_row(
        name,
        str(version),
        f"{test['auc']:.4f}",
        f"{test['gauc']:.4f}",
        f"{test['logloss']:.4f}",
        str(training["best_epoch"]),
        f"{training['samples_per_s']:,.0f}",
        f"{training['seconds']:.1f}",
    )


@models_app.command("list")
def models_list(build: BuildOption) -> None:
    """Every trained model version in the build, with its test metrics."""
    from sparrow.artifacts.models import saved

    found = saved(build)
    if not found:
        console.print(f"no trained models in {build}; run sparrow train MODEL --build {build}")
        return
    table = _summary_table()
    for model in found:
        _summary_row(table, model.name, model.version, model.metrics())
    console.print(table)


@models_app.command("names")
def models_names() -> None:
    """The models `sparrow train` knows, with their default settings."""
    from dataclasses import asdict

    from sparrow.models.registry import config_class, model_names

    for name in model_names():
        defaults = ", ".join(f"{k}={v}" for k, v in asdict(config_class(name)()).items())
        console.print(f"[bold]{name}[/bold]: {defaults}")


def evaluate(
    build: BuildOption,
    ncf: Annotated[
        bool, typer.Option(help="Also run the NCF protocol (leave-last-one-out, 1 vs 99).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Every trained model on the test split, side by side: table, report.json, report.html.

    Scores come from each model's ONNX file, as served. With --ncf, NeuMF, two-tower, MF and
    popularity are also trained and ranked under the NCF protocol (HR@10, NDCG@10).
    """
    from sparrow.evaluation.offline import evaluate_models

    threads = settings_from(config).training.threads
    report = evaluate_models(build, ncf=ncf, threads=threads, console=console)
    console.print(f"[green]wrote:[/green] {report}")
