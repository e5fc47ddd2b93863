"""`sparrow <group> <verb>`: the command line of every offline step.

Errors the user can fix print one line and exit non-zero (codes in `sparrow.errors`).
"""

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from sparrow.cli_build import build
from sparrow.cli_common import BuildOption, ConfigOption, console, settings_from
from sparrow.cli_models import evaluate, models_app, train
from sparrow.cli_serve import serve
from sparrow.cli_store import store_app
from sparrow.cli_stream import stream_app
from sparrow.config import with_overrides
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
embed_app = typer.Typer(
    help="Item and user embeddings from a build: Item2vec, DeepWalk, Node2vec.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
app.add_typer(features_app, name="features")
app.add_typer(embed_app, name="embed")

app.add_typer(models_app, name="models")
app.add_typer(store_app, name="store")
app.add_typer(stream_app, name="stream")
app.command("serve")(serve)
app.command("build")(build)
app.command("train")(train)
app.command("evaluate")(evaluate)


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
        settings_from(config).features, split=split, test_fraction=test_fraction, sample=sample,
        seed=seed, engine=engine, spark_master=spark_master, sparrow_compat=sparrow_compat or None,
    )  # fmt: skip
    manifest = build(data, out, params, until=until, progress=True)
    console.print(render(manifest))
    console.print(f"[green]wrote:[/green] {out}  (details in {out / 'manifest.json'})")


DimOption = Annotated[int | None, typer.Option(help="Vector size (default 64; the original: 10).")]
WindowOption = Annotated[int | None, typer.Option(help="Context window (default 10).")]
EpochsOption = Annotated[int | None, typer.Option(help="Training passes (default 20).")]
MinCountOption = Annotated[int | None, typer.Option(help="Ignore rarer movies (default 5).")]
SeedOption = Annotated[int | None, typer.Option(help="Random seed (default 42).")]
WalksOption = Annotated[int | None, typer.Option(help="Random walks (default 20,000).")]
LengthOption = Annotated[int | None, typer.Option(help="Nodes per walk (default 10).")]


EngineOption = Annotated[
    str | None, typer.Option(help="Make sequences, graph and walks locally or on spark (local).")
]
TrainerOption = Annotated[
    str | None,
    typer.Option(help="gensim (default) or mllib: Spark's Word2Vec, with --engine spark."),
]
SubsampleOption = Annotated[
    float | None,
    typer.Option(help="Down-sample frequent movies (default 1e-4; the original: 1e-3; 0: off)."),
]
MasterOption = Annotated[
    str | None, typer.Option(help="Spark master URL for --engine spark (default local\\[*]).")
]


def _embed(
    method: str, build: Path, config: Path | None, spark_master: str | None, **overrides: object
) -> None:
    from sparrow.config import SparkSettings
    from sparrow.embedding.pipeline import embed_items

    everything = settings_from(config)
    settings = with_overrides(everything.embedding, **overrides)
    spark = SparkSettings(
        master=spark_master or everything.features.spark_master, conf=everything.features.spark_conf
    )
    info = embed_items(build, method, settings, spark)
    timings = info["timings_s"]
    console.print(
        f"[green]{method}:[/green] {info['items']:,} movie vectors from {info['sentences']:,}"
        f" sequences in {timings['sentences'] + timings['training']:.1f} s"
        f" -> {build}/embeddings/{info['name']}/"
    )


@embed_app.command("item2vec")
def embed_item2vec(
    build: BuildOption, dim: DimOption = None, window: WindowOption = None,
    epochs: EpochsOption = None, min_count: MinCountOption = None,
    subsample: SubsampleOption = None, seed: SeedOption = None, engine: EngineOption = None,
    trainer: TrainerOption = None, spark_master: MasterOption = None, config: ConfigOption = None,
) -> None:  # fmt: skip
    """Item2vec: skip-gram on each user's liked movies in time order (training period only).

    The original's settings: --dim 10 --window 5 --epochs 10 --min-count 5 --subsample 1e-3
    """
    _embed("item2vec", build, config, spark_master, engine=engine, trainer=trainer, dim=dim,
           window=window, epochs=epochs, min_count=min_count, subsample=subsample,
           seed=seed)  # fmt: skip


@embed_app.command("deepwalk")
def embed_deepwalk(
    build: BuildOption, walks: WalksOption = None, walk_length: LengthOption = None,
    dim: DimOption = None, window: WindowOption = None, epochs: EpochsOption = None,
    min_count: MinCountOption = None, subsample: SubsampleOption = None, seed: SeedOption = None,
    engine: EngineOption = None, trainer: TrainerOption = None,
    spark_master: MasterOption = None, config: ConfigOption = None,
) -> None:  # fmt: skip
    """DeepWalk: skip-gram on weighted random walks over the movie transition graph."""
    _embed("deepwalk", build, config, spark_master, engine=engine, trainer=trainer, walks=walks,
           walk_length=walk_length, dim=dim, window=window, epochs=epochs, min_count=min_count,
           subsample=subsample, seed=seed)  # fmt: skip


@embed_app.command("node2vec")
def embed_node2vec(
    build: BuildOption,
    p: Annotated[float | None, typer.Option(help="Return: low p revisits (default 0.25).")] = None,
    q: Annotated[float | None, typer.Option(help="In-out: high q stays local (default 4).")] = None,
    walks: WalksOption = None, walk_length: LengthOption = None, dim: DimOption = None,
    window: WindowOption = None, epochs: EpochsOption = None, min_count: MinCountOption = None,
    subsample: SubsampleOption = None, seed: SeedOption = None, engine: EngineOption = None,
    trainer: TrainerOption = None, spark_master: MasterOption = None, config: ConfigOption = None,
) -> None:  # fmt: skip
    """Node2vec: skip-gram on second-order biased walks (return p, in-out q)."""
    _embed("node2vec", build, config, spark_master, engine=engine, trainer=trainer, p=p, q=q,
           walks=walks, walk_length=walk_length, dim=dim, window=window, epochs=epochs,
           min_count=min_count, subsample=subsample, seed=seed)  # fmt: skip


@embed_app.command("users")
def embed_users_command(
    build: BuildOption,
    method: Annotated[str, typer.Option(help="Item vectors to average.")] = "item2vec",
    half_life_days: Annotated[
        float | None, typer.Option(help="Time decay: a liked movie's weight halves per N days.")
    ] = None,
) -> None:
    """User vectors: the (optionally time-decayed) mean of the user's liked movies' vectors."""
    from sparrow.embedding.pipeline import embed_users

    users = embed_users(build, method, half_life_days)
    console.print(f"[green]users:[/green] {len(users.ids):,} user vectors from {method}")


@embed_app.command("evaluate")
def embed_evaluate(build: BuildOption) -> None:
    """Next liked movie: HR@10, NDCG@10, coverage of each method vs popularity; index recall."""
    from rich.table import Table

    from sparrow.embedding.evaluate import index_quality, next_item, write_report

    methods = sorted(p.parent.name for p in (build / "embeddings").glob("*/items.parquet"))
    ranking = next_item(build, methods)
    table = Table(title="next liked movie in the test period, from the history before it")
    for column in ("recommender", "HR@10", "NDCG@10", "coverage", "targets", "users"):
        table.add_column(column, justify="left" if column == "recommender" else "right")
    for name, m in ranking.items():
        table.add_row(name, f"{m['hr@10']:.3f}", f"{m['ndcg@10']:.3f}", f"{m['coverage']:.1%}",
                      f"{m['targets']:,}", f"{m['users']:,}")  # fmt: skip
    console.print(table)
    trained = {
        m: json.loads((build / "embeddings" / m / "config.json").read_text()) for m in methods
    }
    for method, info in trained.items():
        seconds = sum(info["timings_s"].values())
        console.print(f"{method}: {info['trainer']} on {info['engine']}, {info['items']:,} movies,"
                      f" trained in {seconds:.1f} s")  # fmt: skip
    indexes = {m: index_quality(build, m) for m in methods}
    for method, kinds in indexes.items():
        for kind, q in kinds.items():
            console.print(f"{method} {kind}: recall@10 {q['recall@10']:.3f},"
                          f" {q['query_ms_median']:.3f} ms/query")  # fmt: skip
    training = {m: {k: info[k] for k in ("trainer", "engine", "items", "timings_s")}
                for m, info in trained.items()}  # fmt: skip
    path = write_report(build, {"next_item": ranking, "training": training, "indexes": indexes})
    console.print(f"[green]wrote:[/green] {path}")


@embed_app.command("similar")
def embed_similar(
    movie_id: Annotated[int, typer.Argument(help="A movieId, e.g. 1 (Toy Story).")],
    build: BuildOption,
    method: Annotated[str, typer.Option(help="item2vec, deepwalk or node2vec.")] = "item2vec",
    k: Annotated[int, typer.Option("-k", min=1, help="How many neighbours.")] = 10,
) -> None:
    """Print a movie's nearest neighbours with titles, genres and cosine similarity."""
    from rich.table import Table

    from sparrow.embedding.pipeline import similar

    table = Table(title=f"movies like {movie_id} ({method})")
    for column in ("movieId", "title", "genres", "similarity"):
        table.add_column(column, justify="right" if column in ("movieId", "similarity") else "left")
    for row in similar(build, movie_id, method, k):
        table.add_row(str(row["movieId"]), row["title"] or "?", "|".join(row["genres"] or []),
                      f"{row['similarity']:.3f}")  # fmt: skip
    console.print(table)


def main() -> None:
    """Console-script entry point: a SparrowError becomes one line and an exit code."""
    try:
        app()
    except SparrowError as exc:
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/bold red] {escape(str(exc))}", highlight=False
        )
        sys.exit(exc.exit_code)
