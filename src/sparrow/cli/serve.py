"""`sparrow serve`: the HTTP service of a build, on granian (ASGI, one or more worker processes).

Each worker builds the app with `sparrow.serving.app:factory`, which reads the build directory
and the serving settings from the environment this command sets (SPARROW_SERVE_BUILD,
SPARROW_SERVE_SETTINGS), so every worker runs exactly the configuration given here.
"""

import copy
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from sparrow.artifacts.layout import BuildDir
from sparrow.cli.common import (
    BuildOption,
    ConfigOption,
    RedisUrlOption,
    StoreOption,
    console,
    settings_from,
    with_options,
)
from sparrow.config import Settings
from sparrow.errors import ConfigError

# One thread per request for numpy/BLAS and faiss (OpenMP): a server runs requests side by side,
# and under load their thread pools only fight (measured: HNSW search 0.8 ms -> 15 ms with 2).
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
LOG_FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"


def log_config() -> dict[str, Any]:
    """granian's logging configuration plus the service's key=value lines on stdout."""
    from granian.log import LOGGING_CONFIG

    config: dict[str, Any] = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["structured"] = {
        "()": "logging.Formatter",
        "fmt": LOG_FORMAT,
        "datefmt": "%Y-%m-%dT%H:%M:%S%z",
    }
    config["handlers"]["structured"] = {
        "formatter": "structured",
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stdout",
    }
    config["loggers"]["sparrow"] = {"handlers": ["structured"], "level": "INFO", "propagate": False}
    return config


def run(build: Path, settings: Settings) -> None:
    """Serve `build` with the `serving` and `store` settings until interrupted (granian, ASGI,
    `serving.workers` processes)."""
    for name, value in SINGLE_THREADED.items():  # before numpy and faiss load, here and in workers
        os.environ.setdefault(name, value)
    from granian import Granian
    from granian.constants import Interfaces

    from sparrow.serving.app import BUILD_ENV, SETTINGS_ENV
    from sparrow.serving.experiments import Experiments

    if not BuildDir(build).is_build():
        raise ConfigError(f"--build {build} is not a build directory (no manifest.json)")
    serving = settings.serving
    Experiments.load(serving.experiments)  # a bad experiments file fails here, not per worker
    os.environ[BUILD_ENV] = str(build.resolve())
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    console.print(
        f"[green]serving[/green] {build} on http://{serving.host}:{serving.port}"
        f" ({settings.store.type} store, {serving.workers} worker(s); docs at /docs)"
    )
    Granian(
        "sparrow.serving.app:factory",
        address=serving.host,
        port=serving.port,
        interface=Interfaces.ASGI,
        workers=serving.workers,
        factory=True,
        log_dictconfig=log_config(),
    ).serve()


def serve(
    build: BuildOption,
    store: StoreOption = None,
    redis_url: RedisUrlOption = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 0.0.0.0).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 6010, as the original).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (default 1).")] = None,
    experiments: Annotated[
        Path | None, typer.Option(help="A/B experiments file (TOML, docs/experiments.md).")
    ] = None,
    stream: Annotated[
        bool | None,
        typer.Option(
            "--stream/--no-stream",
            help="Apply POST /events in the service (default on); --no-stream when a separate"
            " `sparrow stream run` does it.",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Serve the original's HTTP API, plus /healthz, /metrics and /docs, for a build.

    Examples:

      sparrow serve --build build/ml-latest-small

      sparrow serve --build build/ml-latest-small --store redis --workers 2

    With --store redis the build is also loaded in memory: while Redis is
    down the service answers from that copy (and /healthz says so). Events
    posted to /events go to <build>/events/events.log (memory) or the Redis
    Stream <prefix>:events (redis); the stream processor inside the service
    applies them, so recommendations follow what users just did. Other
    settings (ranking budget, default model, candidates; the Redis prefix):
    the \\[serving] and \\[store] sections of --config, or SPARROW_SERVING__*
    and SPARROW_STORE__* variables.
    """
    settings = settings_from(config)
    serving = with_options(settings.serving, locals())
    store_settings = with_options(settings.store, locals(), type="store")
    run(build, settings.model_copy(update={"serving": serving, "store": store_settings}))
