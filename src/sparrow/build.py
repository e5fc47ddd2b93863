"""`sparrow build`: the whole offline build in one command, resumable and cached per stage.

Stages, in order: features -> embeddings (item then user vectors, per method) -> models (one
version per name) -> evaluation (`reports/report.json` of the models, `reports/embeddings.json`
of the vectors and their neighbour indexes). Each unit of work records in `<out>/stages.json`
the digest of its inputs (the features' data fingerprint and config digest, its own settings as
JSON, the package version) and the outputs it wrote; a later run skips a unit whose digest is
unchanged and whose outputs exist. A unit's record is removed before it runs and written only
after it succeeded, so a failed or interrupted run never leaves half-done work marked done.

The features are cached by the manifest itself (same data fingerprint, config digest and
version). New data or feature settings rebuild them, which replaces the whole build directory
atomically (embeddings, models and reports included): every later unit then runs again.
"""

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import sparrow
from sparrow.config import FeatureSettings, Settings, SparkSettings, with_overrides
from sparrow.errors import ConfigError, DataError

STATE = "stages.json"
MANIFEST = "manifest.json"
ENGINES = {"embedded": "duckdb", "duckdb": "duckdb", "spark": "spark"}
DEFAULT_EMBEDDINGS = ("item2vec", "deepwalk")
DEFAULT_MODELS = ("deepfm", "neumf", "din", "two_tower", "logistic", "popularity")
Run = Callable[[], list[str]]  # does a unit's work; returns its outputs, relative to the build


@dataclass(frozen=True)
class StageResult:
    """What one stage did: `status` is built, cached or skipped (nothing to do)."""

    stage: str
    status: str
    seconds: float
    detail: str = ""


def digest(value: object) -> str:
    """Short SHA-256 of `value` as canonical JSON (the scheme of the manifest's digests)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def data_fingerprint(data: Path) -> str:
    """The manifest's dataset fingerprint: name, size and mtime of each file of `data`."""
    if not data.is_dir():
        raise DataError(f"--data {data}: no such dataset folder")
    files = sorted(p for p in data.iterdir() if p.is_file())
    return digest([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files])


def feature_config_digest(settings: FeatureSettings, until: int | None) -> str:
    """The `config_digest` that `sparrow features build` writes into the manifest."""
    from sparrow.features.pipeline import spec_from_settings

    return digest({"engine": settings.engine, **asdict(spec_from_settings(settings, until))})


class Stages:
    """The `stages.json` records of a build directory, and the units they let us skip."""

    def __init__(self, out: Path, say: Callable[[str], None]) -> None:
        self.out, self.say = out, say
        try:
            doc = json.loads((out / STATE).read_text(encoding="utf-8"))
            self.units: dict[str, Any] = dict(doc["units"])
        except (OSError, ValueError, KeyError, TypeError):
            self.units = {}

    def save(self) -> None:
        """Write stages.json atomically (temporary file, then rename)."""
        path = self.out / STATE
        tmp = path.with_name(f".{STATE}.tmp")
        doc = {"format": 1, "sparrow": sparrow.__version__, "units": self.units}
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def record(self, key: str, inputs: dict[str, Any], outputs: list[str], seconds: float) -> None:
        self.units[key] = {
            "digest": digest(inputs), "inputs": inputs, "outputs": outputs,
            "seconds": round(seconds, 3),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }  # fmt: skip
        self.save()

    def cached(self, key: str, inputs: dict[str, Any]) -> bool:
        """Whether `key` was done with these inputs and its outputs are still there."""
        done: dict[str, Any] = self.units.get(key) or {}
        there = all((self.out / p).exists() for p in done.get("outputs", []))
        return done.get("digest") == digest(inputs) and there

    def stage(self, name: str, units: list[tuple[str, dict[str, Any], Run]]) -> StageResult:
        """Run the units of stage `name` that are not cached; print one line for the stage."""
        started, ran = time.perf_counter(), 0
        for key, inputs, run in units:
            inputs = inputs | {"sparrow": sparrow.__version__}
            if self.cached(key, inputs):
                continue
            if self.units.pop(key, None) is not None:
                self.save()  # its old outputs may be overwritten from now on
            began = time.perf_counter()
            outputs = run()
            self.record(key, inputs, outputs, time.perf_counter() - began)
            ran += 1
        seconds = time.perf_counter() - started
        if not units:
            return self.announce(StageResult(name, "skipped", 0.0, "nothing to do"))
        if not ran:
            return self.announce(StageResult(name, "cached", seconds))
        left = len(units) - ran
        return self.announce(StageResult(name, "built", seconds, f"{left} cached" if left else ""))

    def announce(self, result: StageResult) -> StageResult:
        """Print the stage's one line: `features: built in 1.2 s (detail)`."""
        timing = f" in {result.seconds:.1f} s" if result.status == "built" else ""
        detail = f" ({result.detail})" if result.detail else ""
        self.say(f"[bold]{result.stage}:[/bold] {result.status}{timing}{detail}")
        return result


def build_all(
    data: Path, out: Path, settings: Settings, until: int | None = None,
    engine: str | None = None, models: list[str] | None = None,
    embeddings: list[str] | None = None, progress: bool = True, console: Console | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Build everything from the dataset folder `data` into `out`, reusing what is cached.

    `engine`: embedded (DuckDB) or spark for the features (default: the feature settings');
    `models` and `embeddings` default to DEFAULT_MODELS and DEFAULT_EMBEDDINGS. Returns
    {"out", "stages": [{stage, status, seconds, detail}], "seconds", "manifest"}.
    """
    from sparrow.embedding.pipeline import METHODS

    started = time.perf_counter()
    console = console or Console(quiet=not progress)
    say: Callable[[str], None] = lambda text: console.print(text, highlight=False)  # noqa: E731
    models = list(DEFAULT_MODELS if models is None else models)
    methods = list(DEFAULT_EMBEDDINGS if embeddings is None else embeddings)
    if unknown := [m for m in methods if m not in METHODS]:
        raise ConfigError(f"unknown embedding {unknown[0]!r}; choose from: {', '.join(METHODS)}")
    if engine is not None and engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; choose embedded or spark")
    features = with_overrides(settings.features, engine=ENGINES.get(engine or ""))
    inputs = {"data": data_fingerprint(data), "sparrow": sparrow.__version__,
              "config_digest": feature_config_digest(features, until)}  # fmt: skip
    stages = Stages(out, say)
    _check_model_names([m for m in models if f"models/{m}" not in stages.units])
    results = [_features(data, out, features, until, inputs, stages, progress)]
    stages = Stages(out, say)  # the features may have replaced the whole directory
    if "features" not in stages.units:  # a build of `sparrow features build`: adopt it
        stages.record("features", inputs, [MANIFEST], 0.0)
    upstream = {"features": digest(inputs)}
    es, ts = settings.embedding, settings.training
    spark = SparkSettings(master=features.spark_master, conf=features.spark_conf)
    results.append(stages.stage("embeddings", [
        (f"embeddings/{m}", upstream | {"method": m, "settings": es.model_dump(mode="json"),
                                        "spark": spark.model_dump() if es.engine == "spark"
                                        else None},
         _embed(out, m, settings, spark, say))
        for m in methods
    ]))  # fmt: skip
    results.append(stages.stage("models", [
        (f"models/{name}", upstream | {"model": name, "training": ts.model_dump(mode="json")},
         _train(out, name, settings, progress, say))
        for name in models
    ]))  # fmt: skip
    results.append(stages.stage("evaluation", _evaluation(out, stages, methods, settings, console)))
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    return {
        "out": str(out), "stages": [asdict(r) for r in results],
        "seconds": round(time.perf_counter() - started, 3), "manifest": manifest,
    }  # fmt: skip


def _check_model_names(names: list[str]) -> None:
    """Fail before any work on an unknown model name (imports torch only when names are new)."""
    if names:
        from sparrow.models.registry import MODELS

        if unknown := [n for n in names if n not in MODELS]:
            raise ConfigError(f"unknown model {unknown[0]!r}; choose from: {', '.join(MODELS)}")


def _features(
    data: Path, out: Path, settings: FeatureSettings, until: int | None,
    inputs: dict[str, str], stages: Stages, progress: bool,
) -> StageResult:  # fmt: skip
    """Reuse the build's features when its manifest matches `inputs`, else rebuild them."""
    from sparrow.features.pipeline import build

    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        same = (manifest["dataset"]["fingerprint"], manifest["config_digest"],
                manifest["versions"]["sparrow"])  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        same = None
    if same == (inputs["data"], inputs["config_digest"], inputs["sparrow"]):
        return stages.announce(StageResult("features", "cached", 0.0))
    started = time.perf_counter()
    manifest = build(data, out, settings, until=until, progress=progress)  # replaces `out`
    seconds = time.perf_counter() - started
    Stages(out, stages.say).record("features", inputs, [MANIFEST], seconds)
    rows = manifest["rows"]
    detail = f"{rows['train_samples']:,} train and {rows['test_samples']:,} test samples"
    return stages.announce(StageResult("features", "built", seconds, detail))


def _embed(
    out: Path, method: str, settings: Settings, spark: SparkSettings, say: Callable[[str], None]
) -> Run:
    def run() -> list[str]:
        from sparrow.embedding.pipeline import embed_items, embed_users

        info = embed_items(out, method, settings.embedding, spark)
        users = embed_users(out, info["name"], settings.embedding.half_life_days)
        say(f"  {info['name']}: {info['items']:,} movie and {len(users.ids):,} user vectors")
        folder = f"embeddings/{info['name']}"
        return [f"{folder}/items.parquet", f"{folder}/users.parquet"]

    return run


def _train(
    out: Path, name: str, settings: Settings, progress: bool, say: Callable[[str], None]
) -> Run:
    def run() -> list[str]:
        from sparrow.training.pipeline import train_model

        model = train_model(out, name, settings.training, None, progress)
        m = model.metrics()
        say(f"  {name} v{model.version}: test AUC {m['test']['auc']:.4f},"
            f" trained in {m['training']['seconds']:.1f} s")  # fmt: skip
        folder = f"models/{name}/{model.version}"
        return [f"{folder}/model.onnx", f"{folder}/metrics.json"]

    return run


def _evaluation(
    out: Path, stages: Stages, methods: list[str], settings: Settings, console: Console
) -> list[tuple[str, dict[str, Any], Run]]:
    """The evaluation unit: every model's latest version and the embeddings, when any."""
    from sparrow.training.artifacts import saved

    versions = [[m.name, m.version] for m in saved(out)]
    vectors = {k: v["digest"] for k, v in stages.units.items() if k.startswith("embeddings/")}
    names = sorted(p.parent.name for p in (out / "embeddings").glob("*/items.parquet"))
    names = [n for n in names if n.split("-")[0] in methods]

    def run() -> list[str]:
        from sparrow.evaluation.offline import evaluate_models

        outputs = []
        if versions:
            evaluate_models(out, ncf=False, threads=settings.training.threads, console=console)
            outputs.append("reports/report.json")
        if names:
            outputs.append(_embedding_report(out, names, console))
        return outputs

    inputs = {"models": versions, "embeddings": vectors, "methods": names}
    return [("evaluation", inputs, run)] if versions or names else []


def _embedding_report(out: Path, methods: list[str], console: Console) -> str:
    """`sparrow embed evaluate`'s report: next liked movie HR@10 and neighbour index recall."""
    from sparrow.embedding.evaluate import index_quality, next_item, write_report

    ranking = next_item(out, methods)
    for name, m in ranking.items():
        console.print(f"  {name}: next liked movie HR@10 {m['hr@10']:.3f}", highlight=False)
    trained = {m: json.loads((out / "embeddings" / m / "config.json").read_text()) for m in methods}
    training = {m: {k: info[k] for k in ("trainer", "engine", "items", "timings_s")}
                for m, info in trained.items()}  # fmt: skip
    indexes = {m: index_quality(out, m) for m in methods}
    path = write_report(out, {"next_item": ranking, "training": training, "indexes": indexes})
    return str(path.relative_to(out))


def summary_table(result: dict[str, Any]) -> Table:
    """The stages of a `build_all` result: status and seconds, and the total."""
    table = Table(title=f"sparrow build {result['out']}")
    for column in ("stage", "status", "seconds", "detail"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for s in result["stages"]:
        table.add_row(s["stage"], s["status"], f"{s['seconds']:.1f}", s["detail"])
    table.add_row("total", "", f"{result['seconds']:.1f}", "", style="bold")
    return table
