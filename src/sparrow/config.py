"""Typed settings: defaults that run on a laptop, `SPARROW_*` env overrides, `--config FILE`.

Precedence, highest first: command-line options, environment, the TOML config file, defaults.
Nested settings use `__` in the environment: `SPARROW_FEATURES__SEED=7`.
"""

import tomllib
from functools import partial
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sparrow.errors import ConfigError
from sparrow.plugins import resolve

M = TypeVar("M", bound=BaseModel)
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/"


class Block(BaseModel):
    """A block of settings (a `[section]` of the file); a key it does not have is an error, so
    a misspelt or outdated setting is refused, not ignored."""

    model_config = ConfigDict(extra="forbid")


def backend(family: str) -> AfterValidator:
    """A backend type of `family` in `plugins.py`: aliases resolved, an unknown one refused
    with the same line wherever it is set (file, environment or command line)."""
    return AfterValidator(partial(resolve, family))


class FeatureSettings(Block):
    """The offline feature build (`sparrow features build`)."""

    engine: Annotated[str, backend("engine")] = Field(
        "duckdb", description="batch engine: duckdb (embedded; alias: embedded) or spark"
    )
    spark_master: str = Field("local[*]", description="Spark master URL (engine spark)")
    spark_conf: dict[str, str] = Field(
        default_factory=dict, description="extra Spark settings, e.g. spark.driver.memory"
    )
    split: Literal["time", "random"] = "time"
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0)
    sample: float = Field(1.0, gt=0.0, le=1.0, description="fraction of ratings kept (seeded)")
    seed: int = 42
    positive_threshold: float = Field(3.5, gt=0, le=5, description="label = 1 when rating >= this")
    history: int = Field(100, ge=1, description="previous ratings a user feature looks at")
    sparrow_compat: bool = Field(False, description="the original's leaky definitions")


class SparkSettings(Block):
    """Where Spark work runs (taken from the feature settings' spark_master and spark_conf)."""

    master: str = "local[*]"
    conf: dict[str, str] = Field(default_factory=dict)


class EmbeddingSettings(Block):
    """Embeddings (`sparrow embed`): skip-gram training, graph walks, user vectors."""

    dim: int = Field(64, ge=1, description="vector size (the original: 10)")
    window: int = Field(10, ge=1, description="context window (the original: 5)")
    epochs: int = Field(20, ge=1, description="training passes (the original: 10)")
    negative: int = Field(10, ge=1, description="negative samples per positive")
    min_count: int = Field(5, ge=1, description="ignore movies liked fewer times (the original: 5)")
    subsample: float = Field(
        1e-4, ge=0, description="down-sampling of frequent movies (the original: 1e-3)"
    )
    seed: int = 42
    workers: int = Field(1, ge=1, description="training threads; 1 is reproducible")
    walks: int = Field(20_000, ge=1, description="random walks (the original: 20,000)")
    walk_length: int = Field(10, ge=2, description="nodes per walk (the original: 10)")
    p: float = Field(0.25, gt=0, description="node2vec return parameter (1 with q 1: DeepWalk)")
    q: float = Field(4.0, gt=0, description="node2vec in-out parameter (high: stay local)")
    half_life_days: float | None = Field(None, gt=0, description="time decay of user vectors")
    engine: Annotated[str, backend("corpus")] = Field(
        "local", description="where sequences, graph and walks are made (spark: features.spark_*)"
    )
    trainer: Annotated[str, backend("trainer")] = Field(
        "gensim", description="skip-gram trainer; mllib (Spark's Word2Vec) needs engine spark"
    )


class TrainingSettings(Block):
    """Ranking-model training (`sparrow train`); each model's own sizes are in its config."""

    epochs: int = Field(10, ge=1, description="most passes over the training samples")
    batch_size: int = Field(1024, ge=1)
    lr: float = Field(1e-3, gt=0, description="Adam learning rate")
    weight_decay: float = Field(0.0, ge=0, description="L2 penalty (Adam weight_decay)")
    patience: int = Field(2, ge=1, description="epochs without a better validation AUC to stop")
    validation: float = Field(
        0.1, gt=0, lt=1, description="last fraction of the training period used for validation"
    )
    min_count: int = Field(2, ge=1, description="ids seen fewer times share the unknown id")
    id_dropout: float = Field(
        0.05,
        ge=0,
        lt=1,
        description="training rows whose user id is hidden, to learn unknown users",
    )
    seed: int = 42
    threads: int = Field(1, ge=1, description="torch intra-op threads")


class StoreSettings(Block):
    """The online store the service reads and the stream writes (`sparrow serve`, `sparrow
    store`, `sparrow stream run`)."""

    type: Annotated[str, backend("store")] = Field(
        "memory", description="memory (the build, loaded in the service) or redis"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis of the redis store")
    prefix: str = Field("sparrow", description="prefix of every Redis key")
    events_stream: str | None = Field(
        None, description="the Redis Stream of events (default: {prefix}:events)"
    )
    timeout_s: float | None = Field(
        None, gt=0, description="longest wait of one store call (None: the backend's; Redis 0.3 s)"
    )
    cache_users: int = Field(
        10_000,
        ge=0,
        description="users whose profile the service keeps between requests, dropped as soon as"
        " Redis reports a change (0: read Redis on every request)",
    )


class StreamSettings(Block):
    """The stream processor of `sparrow stream run` (the service runs its own, `serving.stream`)."""

    runner: Annotated[str, backend("stream_runner")] = Field(
        "embedded", description="embedded (in this process) or flink (a PyFlink job)"
    )
    log: Annotated[str, backend("event_log")] = Field(
        "file", description="file (<build>/events/events.log) or redis (the events stream)"
    )
    batch: int = Field(1_000, ge=1, le=1_000, description="log entries per batch")
    group: str = Field("sparrow", description="consumer group of the Redis Stream")
    consumer: str = Field("stream-1", description="consumer name in the group")
    flink_master: str | None = Field(
        None, description="a Flink cluster's JobManager HOST:PORT (default: a local cluster)"
    )
    flink_python: Path | None = Field(
        None, description="the Flink environment's Python (default: .venv-flink/bin/python)"
    )


class ServingSettings(Block):
    """The online service (`sparrow serve`); its store is `StoreSettings`."""

    host: str = "0.0.0.0"
    port: int = Field(6010, ge=1, le=65535)
    workers: int = Field(1, ge=1, description="server worker processes")
    threads: int = Field(1, ge=1, description="ONNX Runtime threads per ranking call")
    experiments: Path | None = Field(None, description="A/B experiments file (TOML)")
    budget_ms: float = Field(50.0, gt=0, description="time budget of model ranking per request")
    default_model: str = Field("deepfm", description="ranking model when none is asked for")
    similar_method: str = Field("item2vec", description="embedding behind model=emb")
    candidates: int = Field(800, ge=1, description="most candidates ranked per request")
    stream: bool = Field(True, description="run the stream processor inside the service")


class Settings(BaseSettings):
    """All settings; one sub-model per component."""

    model_config = SettingsConfigDict(
        env_prefix="SPARROW_", env_nested_delimiter="__", extra="forbid"
    )

    data: Path | None = Field(None, description="folder holding MovieLens dataset folders")
    data_mirror: str = Field(GROUPLENS_URL, description="base URL of the MovieLens archives")
    features: FeatureSettings = FeatureSettings()
    embedding: EmbeddingSettings = EmbeddingSettings()
    training: TrainingSettings = TrainingSettings()
    store: StoreSettings = StoreSettings()
    stream: StreamSettings = StreamSettings()
    serving: ServingSettings = ServingSettings()


class _FileSource(PydanticBaseSettingsSource):
    """Values read from a TOML config file (below the environment in precedence)."""

    def __init__(self, settings_cls: type[BaseSettings], values: dict[str, object]) -> None:
        super().__init__(settings_cls)
        self.values = values

    def get_field_value(self, field: object, field_name: str) -> tuple[object, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, object]:
        return self.values


def with_overrides(model: M, **values: object) -> M:
    """A copy of `model` with the non-None `values` set and validated (ConfigError if invalid)."""
    merged = model.model_dump() | {k: v for k, v in values.items() if v is not None}
    try:
        return type(model).model_validate(merged)
    except ValidationError as exc:
        raise _config_error(exc) from exc


def _config_error(exc: ValidationError) -> ConfigError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return ConfigError(f"invalid setting {where}: {first['msg']}")


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from defaults, the optional TOML `config_file` and the environment."""
    values: dict[str, object] = {}
    if config_file is not None:
        try:
            values = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from exc

    class _Settings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return init_settings, env_settings, _FileSource(settings_cls, values)

    try:
        return Settings.model_validate(_Settings().model_dump())
    except ValidationError as exc:
        raise _config_error(exc) from exc
