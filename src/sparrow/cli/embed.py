"""`sparrow embed`: item and user embeddings of a build, their neighbours and evaluation."""

from pathlib import Path
from typing import Annotated

import typer

from sparrow.cli.common import BuildOption, ConfigOption, console, settings_from, with_options

embed_app = typer.Typer(
    help="Item and user embeddings from a build: Item2vec, DeepWalk, Node2vec.",
    no_args_is_help=True,
)


DimOption = Annotated[int | None, typer.Option(help="Vector size (default 64; the original: 10).")]
WindowOption = Annotated[int | None, typer.Option(help="Context window (default 10).")]
EpochsOption = Annotated[int | None, typer.Option(help="Training passes (default 20).")]
MinCountOption = Annotated[int | None, typer.Option(help="Ignore rarer movies (default 5).")]
SeedOption = Annotated[int | None, typer.Option(help="Random seed (default 42).")]
WalksOption = Annotated[int | None, typer.Option(help="Random walks (default 20,000).")]
LengthOption = Annotated[int | None, typer.Option(help="Nodes per walk (default 10).")]


CorpusOption = Annotated[
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
    from sparrow.artifacts.layout import BuildDir
    from sparrow.config import SparkSettings
    from sparrow.embedding.pipeline import embed_items

    everything = settings_from(config)
    settings = with_options(everything.embedding, overrides)
    spark = SparkSettings(
        master=spark_master or everything.features.spark_master, conf=everything.features.spark_conf
    )
    info = embed_items(build, method, settings, spark)
    timings = info["timings_s"]
    console.print(
        f"[green]{method}:[/green] {info['items']:,} movie vectors from {info['sentences']:,}"
        f" sequences in {timings['sentences'] + timings['training']:.1f} s"
        f" -> {BuildDir(build).embedding(info['name'])}/"
    )


@embed_app.command("item2vec")
def embed_item2vec(
    build: BuildOption, dim: DimOption = None, window: WindowOption = None,
    epochs: EpochsOption = None, min_count: MinCountOption = None,
    subsample: SubsampleOption = None, seed: SeedOption = None, engine: CorpusOption = None,
    trainer: TrainerOption = None, spark_master: MasterOption = None, config: ConfigOption = None,
) -> None:  # fmt: skip
    """Item2vec: skip-gram on each user's liked movies in time order (training period only).

    The original's settings: --dim 10 --window 5 --epochs 10 --min-count 5 --subsample 1e-3
    """
    _embed("item2vec", **locals())  # every option, by name


@embed_app.command("deepwalk")
def embed_deepwalk(
    build: BuildOption, walks: WalksOption = None, walk_length: LengthOption = None,
    dim: DimOption = None, window: WindowOption = None, epochs: EpochsOption = None,
    min_count: MinCountOption = None, subsample: SubsampleOption = None, seed: SeedOption = None,
    engine: CorpusOption = None, trainer: TrainerOption = None,
    spark_master: MasterOption = None, config: ConfigOption = None,
) -> None:  # fmt: skip
    """DeepWalk: skip-gram on weighted random walks over the movie transition graph."""
    _embed("deepwalk", **locals())  # every option, by name


@embed_app.command("node2vec")
def embed_node2vec(
    build: BuildOption,
    p: Annotated[float | None, typer.Option(help="Return: low p revisits (default 0.25).")] = None,
    q: Annotated[float | None, typer.Option(help="In-out: high q stays local (default 4).")] = None,
    walks: WalksOption = None, walk_length: LengthOption = None, dim: DimOption = None,
    window: WindowOption = None, epochs: EpochsOption = None, min_count: MinCountOption = None,
    subsample: SubsampleOption = None, seed: SeedOption = None, engine: CorpusOption = None,
    trainer: TrainerOption = None, spark_master: MasterOption = None, config: ConfigOption = None,
) -> None:  # fmt: skip
    """Node2vec: skip-gram on second-order biased walks (return p, in-out q)."""
    _embed("node2vec", **locals())  # every option, by name


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

    from sparrow.artifacts.vectors import embedding_methods
    from sparrow.embedding.evaluate import evaluate

    report, path = evaluate(build, embedding_methods(build))
    table = Table(title="next liked movie in the test period, from the history before it")
    for column in ("recommender", "HR@10", "NDCG@10", "coverage", "targets", "users"):
        table.add_column(column, justify="left" if column == "recommender" else "right")
    for name, m in report["next_item"].items():
        table.add_row(
            name,
            f"{m['hr@10']:.3f}",
            f"{m['ndcg@10']:.3f}",
            f"{m['coverage']:.1%}",
            f"{m['targets']:,}",
            f"{m['users']:,}",
        )
    console.print(table)
    for method, info in report["training"].items():
        seconds = sum(info["timings_s"].values())
        console.print(
            f"{method}: {info['trainer']} on {info['engine']}, {info['items']:,} movies,"
            f" trained in {seconds:.1f} s"
        )
    for method, kinds in report["indexes"].items():
        for kind, q in kinds.items():
            console.print(
                f"{method} {kind}: recall@10 {q['recall@10']:.3f},"
                f" {q['query_ms_median']:.3f} ms/query"
            )
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
        table.add_row(
            str(row["movieId"]),
            row["title"] or "?",
            "|".join(row["genres"] or []),
            f"{row['similarity']:.3f}",
        )
    console.print(table)
