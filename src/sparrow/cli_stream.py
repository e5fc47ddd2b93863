"""`sparrow stream run`: the nearline processor, events -> fresh user features in the store."""

import json
import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from sparrow.cli_common import BuildOption, ConfigOption, console, settings_from
from sparrow.errors import ConfigError, DataError

stream_app = typer.Typer(help="Keep user features fresh from the event log.", no_args_is_help=True)


def threshold_of(build: Path) -> float:
    """The build's positive threshold (manifest.json)."""
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        return float(manifest["parameters"]["definitions"]["positive_threshold"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{build} is not a build directory (manifest.json: {exc!r})") from exc


@stream_app.command("run")
def run_command(
    build: BuildOption,
    store: Annotated[
        Literal["memory", "redis"] | None,
        typer.Option(help="Store to update (default serving.store)."),
    ] = None,
    log: Annotated[
        Literal["file", "redis"],
        typer.Option(help="file: <build>/events/events.log; redis: a Redis Stream."),
    ] = "file",
    redis_url: Annotated[str | None, typer.Option(help="Default serving.redis_url.")] = None,
    prefix: Annotated[str | None, typer.Option(help="Default serving.redis_prefix.")] = None,
    stream: Annotated[
        str | None, typer.Option(help="Stream key (default {prefix}:events).")
    ] = None,
    group: Annotated[str, typer.Option(help="Consumer group of the Redis Stream.")] = "sparrow",
    consumer: Annotated[str, typer.Option(help="Consumer name in the group.")] = "stream-1",
    batch: Annotated[int, typer.Option(min=1, help="Entries per batch.")] = 500,
    once: Annotated[bool, typer.Option(help="Stop when the log is drained.")] = False,
    config: ConfigOption = None,
) -> None:
    """Apply rating/click/view events to the users' online features, recent liked movies, rated
    movies and user vectors (at-least-once, idempotent). With the memory store the updates live
    in this process only (useful with --once to check a log); with Redis the service sees them.

      sparrow stream run --build build/ml-latest-small --store redis --once
      sparrow stream run --build build/ml-latest-small --store redis --log redis --group g1
    """
    from sparrow.stream.log import EventLog, FileLog, RedisLog
    from sparrow.stream.runner import Store, catalogue, run

    serving = settings_from(config).serving
    url, pre = redis_url or serving.redis_url, prefix or serving.redis_prefix
    kind = store or serving.store
    threshold = threshold_of(build)
    target: Store
    if kind == "redis":
        from sparrow.store.redis_store import RedisStore

        target = RedisStore(url, pre, timeout=10.0)
    else:
        from sparrow.store.memory_store import MemoryStore

        target = MemoryStore.from_build(build)
    source: EventLog
    if log == "redis":
        source = RedisLog(url, stream or f"{pre}:events", group, consumer)
    else:
        source = FileLog(build / "events" / "events.log")
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    vectors, movies = catalogue(target)
    try:
        stats = run(target, source, vectors, movies, threshold, batch, stop, once)
    except OSError as exc:
        raise ConfigError(f"the stream stopped: {exc}") from exc
    finally:
        summary_lag = source.lag()
        source.close()
    summary: dict[str, Any] = {
        "events": stats.events, "dead": stats.dead, "users_written": stats.writes,
        "seconds": round(stats.seconds, 3), "events_per_s": round(stats.per_second),
    }  # fmt: skip
    console.print_json(data=summary | {"lag": summary_lag})
