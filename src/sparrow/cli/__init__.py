"""`sparrow <group> <verb>`: the command line, one module per command group.

Errors the user can fix print one line and exit non-zero (codes in `sparrow.errors`).
"""

import sys

import typer
from rich.console import Console
from rich.markup import escape

from sparrow.cli.build import build
from sparrow.cli.data import data_app
from sparrow.cli.embed import embed_app
from sparrow.cli.features import features_app
from sparrow.cli.models import evaluate, models_app, train
from sparrow.cli.serve import serve
from sparrow.cli.store import store_app
from sparrow.cli.stream import stream_app
from sparrow.errors import SparrowError

app = typer.Typer(
    help="Sparrow RecSys: a movie recommender you can read, run and extend.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.add_typer(embed_app, name="embed")
app.add_typer(models_app, name="models")
app.add_typer(store_app, name="store")
app.add_typer(stream_app, name="stream")
app.command("build")(build)
app.command("train")(train)
app.command("evaluate")(evaluate)
app.command("serve")(serve)


def main() -> None:
    """Console-script entry point: a SparrowError becomes one line and an exit code."""
    try:
        app()
    except SparrowError as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False
        )
        sys.exit(exc.exit_code)
