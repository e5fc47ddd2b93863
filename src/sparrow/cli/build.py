"""`sparrow build`: the whole offline build (features, embeddings, models, reports) at once."""

from pathlib import Path
from typing import Annotated

import typer

from sparrow.cli.common import ConfigOption, EngineOption, comma_list, console, settings_from
from sparrow.orchestrator import DEFAULT_EMBEDDINGS, DEFAULT_MODELS, build_all, summary_table


def build(
    data: Annotated[Path, typer.Option(help="A MovieLens dataset folder (any official layout).")],
    out: Annotated[
        Path, typer.Option(help="Build directory: created, resumed, or rebuilt when stale.")
    ],
    until: Annotated[
        int | None,
        typer.Option(
            help="Build as if the clock were at this Unix time: later ratings are ignored."
        ),
    ] = None,
    engine: EngineOption = None,
    models: Annotated[
        str | None,
        typer.Option(
            help=f"Ranking models to train, comma-separated, or none"
            f" (default {','.join(DEFAULT_MODELS)}; see `sparrow models names`)."
        ),
    ] = None,
    embeddings: Annotated[
        str | None,
        typer.Option(
            help=f"Embedding methods, comma-separated (item2vec, deepwalk, node2vec), or none"
            f" (default {','.join(DEFAULT_EMBEDDINGS)})."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Build everything the service needs from a dataset, reusing what is already built.

    Stages, in order: features (samples and online features), embeddings (movie and user
    vectors per method), models (one new version each, ONNX-exported), evaluation
    (reports/report.json and report.html, reports/embeddings.json). Each stage records
    the digest of its inputs and settings in OUT/stages.json and is skipped when they are
    unchanged and its outputs exist: a second run takes seconds. New data or feature
    settings rebuild everything; a changed training setting retrains only the models
    and reruns the evaluation. A failed run keeps what was done and resumes from there.

    Examples:

      sparrow build --data data/ml-latest-small --out build/ml-latest-small

      sparrow build --data data/ml-1m --out build/q --models deepfm,popularity --embeddings item2vec

      sparrow build --data data/ml-1m --out build/bt --until 1000000000 --engine spark

      sparrow build --data data/ml-1m --out build/ml-1m --config sparrow.toml

    Settings (epochs, dimensions, split, ...) come from the \\[features], \\[embedding] and
    \\[training] sections of --config or SPARROW_* variables. Serve the result with
    `sparrow serve --build OUT`.
    """
    result = build_all(
        data,
        out,
        settings_from(config),
        until=until,
        engine=engine,
        models=comma_list(models),
        embeddings=comma_list(embeddings),
        progress=True,
        console=console,
    )
    console.print(summary_table(result))
    console.print(f"[green]ready:[/green] {out}  (serve it: sparrow serve --build {out})")
