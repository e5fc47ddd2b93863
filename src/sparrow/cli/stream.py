"""`sparrow stream run`: the nearline processor, events -> fresh user features in the store."""

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer

from sparrow.cli.common import (
    BuildOption,
    ConfigOption,
    PrefixOption,
    RedisUrlOption,
    StoreOption,
    console,
    settings_from,
    with_options,
)
from sparrow.errors import ConfigError
from sparrow.plugins import load_backend

stream_app = typer.Typer(help="Keep user features fresh from the event log.", no_args_is_help=True)


@stream_app.command("run")
def run_command(
    build: BuildOption,
    store: StoreOption = None,
    log: Annotated[
        str | None,
        typer.Option(help="file: <build>/events/events.log (default); redis: a Redis Stream."),
    ] = None,
    redis_url: RedisUrlOption = None,
    prefix: PrefixOption = None,
    stream: Annotated[
        str | None, typer.Option(help="Stream key (default store.events_stream: {prefix}:events).")
    ] = None,
    group: Annotated[
        str | None, typer.Option(help="Consumer group of the Redis Stream (default sparrow).")
    ] = None,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name in the group (default stream-1).")
    ] = None,
    batch: Annotated[
        int | None, typer.Option(help="Entries per batch, 1 to 1,000 (default 1,000).")
    ] = None,
    once: Annotated[bool, typer.Option(help="Stop when the log is drained.")] = False,
    runner: Annotated[
        str | None,
        typer.Option(
            help="embedded: in this process (default); flink: a PyFlink job (make flink-env)."
        ),
    ] = None,
    flink_master: Annotated[
        str | None,
        typer.Option(help="A Flink cluster's JobManager HOST:PORT (default: a local cluster)."),
    ] = None,
    flink_python: Annotated[
        Path | None,
        typer.Option(
            help="The Flink environment's Python (default $SPARROW_FLINK_PYTHON, "
            "else .venv-flink/bin/python)."
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Apply rating/click/view events to the users' online features, recent liked movies, rated
    movies and user vectors (at-least-once, idempotent). With the memory store the updates live
    in this process only (useful with --once to check a log); with Redis the service sees them.
    The settings: the \\[stream] and \\[store] sections of --config, or SPARROW_STREAM__* and
    SPARROW_STORE__* variables.

      sparrow stream run --build build/ml-latest-small --store redis --once
      sparrow stream run --build build/ml-latest-small --store redis --log redis --group g1
      sparrow stream run --build build/ml-latest-small --store redis --runner flink --once
    """
    settings = settings_from(config)
    store_settings = with_options(settings.store, locals(), type="store", events_stream="stream")
    stream_settings = with_options(settings.stream, locals())
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    processor = load_backend("stream_runner", stream_settings.runner)(stream_settings)
    try:
        summary = processor.run(build, store_settings, once, stop)
    except OSError as exc:
        raise ConfigError(f"the stream stopped: {exc}") from exc
    console.print_json(data=summary)
