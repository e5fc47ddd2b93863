"""`sparrow stream run`: the nearline processor, events -> fresh user features in the store."""

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated, Any, Literal

import typer

from sparrow.cli_common import BuildOption, ConfigOption, console, settings_from
from sparrow.errors import ConfigError, DataError
from sparrow.stream.updates import MAX_EVENT_IDS

stream_app = typer.Typer(help="Keep user features fresh from the event log.", no_args_is_help=True)


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
    batch: Annotated[
        int, typer.Option(min=1, max=MAX_EVENT_IDS, help="Entries per batch (at most 1,000).")
    ] = MAX_EVENT_IDS,
    once: Annotated[bool, typer.Option(help="Stop when the log is drained.")] = False,
    runner: Annotated[
        Literal["embedded", "flink"],
        typer.Option(help="embedded: in this process; flink: a PyFlink job (make flink-env)."),
    ] = "embedded",
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

      sparrow stream run --build build/ml-latest-small --store redis --once
      sparrow stream run --build build/ml-latest-small --store redis --log redis --group g1
      sparrow stream run --build build/ml-latest-small --store redis --runner flink --once
    """
    from sparrow.stream.embedded import events_stream, file_log, threshold_of
    from sparrow.stream.log import EventLog, RedisLog
    from sparrow.stream.runner import Store, catalogue, run

    serving = settings_from(config).serving
    url, pre = redis_url or serving.redis_url, prefix or serving.redis_prefix
    kind = store or serving.store
    threshold = threshold_of(build)
    if runner == "flink":
        if kind != "redis" or log != "file":
            raise ConfigError("the Flink runner reads the file log into Redis: "
                              "use --store redis --log file")  # fmt: skip
        run_flink(build, threshold, url, pre, once, flink_master, flink_python)
        return
    target: Store
    if kind == "redis":
        from sparrow.store.redis_store import RedisStore

        target = RedisStore(url, pre, timeout=10.0)
    else:
        from sparrow.store.memory_store import MemoryStore

        target = MemoryStore.from_build(build)
    source: EventLog
    if log == "redis":
        source = RedisLog(url, stream or events_stream(pre), group, consumer)
    else:
        source = file_log(build)
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


def run_flink(build: Path, threshold: float, url: str, prefix: str, once: bool,
              master: str | None, python: Path | None) -> None:  # fmt: skip
    """The Flink job on `<build>/events/events.log` (once: as it is now; else its segments,
    cut every second), into the Redis store."""
    from sparrow.stream.embedded import file_log
    from sparrow.stream.flink_launch import flink_python, job_command, run_job

    log = file_log(build).path
    if once and not log.is_file():
        raise DataError(f"no event log at {log}")
    segments = log.with_name("flink-segments")
    args = ["--events", str(log if once else segments), "--dead", str(log) + ".dead",
            "--threshold", str(threshold), "--redis-url", url, "--prefix", prefix,
            *([] if once else ["--follow"])]  # fmt: skip
    stop = threading.Event()
    if not once:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    command = job_command(flink_python(python), args, master)
    status = run_job(command, None if once else (log, segments), stop)
    if status != 0 and not stop.is_set():  # stopped: the job was terminated
        raise ConfigError(f"the Flink job failed (exit status {status}; its output is above)")
