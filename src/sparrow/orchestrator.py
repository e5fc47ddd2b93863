"""The offline build orchestrator (`sparrow build`): every offline stage in one command,
resumable and cached per unit of work.

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
from sparrow.artifacts.layout import BuildDir, digest, fingerprint
from sparrow.config import FeatureSettings, Settings, SparkSettings, with_overrides
from sparrow.errors import ConfigError, DataError

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


def feature_config_digest(settings: FeatureSettings, until: int | None) -> str:
    """The `config_digest` that `sparrow features build` writes into the manifest."""
    from sparrow.features.pipeline import spec_from_settings

    return spec_from_settings(settings, until).digest()


class Stages:
    """The `stages.json` records of a build directory, and the units they let us skip."""

    def __init__(self, out: Path, say: Callable[[str], None]) -> None:
        self.out, self.say = out, say
        try:
            doc = json.loads(BuildDir(out).stages_path.read_text(encoding="utf-8"))
            self.units: dict[str, Any] = dict(doc["units"])
        except (OSError, ValueError, KeyError, TypeError):
            self.units = {}

    def save(self) -> None:
        """Write stages.json atomically (temporary file, then rename)."""
        path = BuildDir(self.out).stages_path
        tmp = path.with_name(f".{path.name}.tmp")
        doc = {"format": 1, "sparrow": sparrow.__version__, "units": self.units}
        tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)

    def record(self, key: str, inputs: dict[str, Any], outputs: list[str], seconds: float) -> None:
        self.units[key] = {
            "digest": digest(inputs),
            "inputs": inputs,
            "outputs": outputs,
            "seconds": round(seconds, 3),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
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
    data: Path,
    out: Path,
    settings: Settings,
    until: int | None = None,
    engine: str | None = None,
    models: list[str] | None = None,
    embeddings: list[str] | None = None,
    progress: bool = True,
    console: Console | None = None,
) -> dict[str, Any]:
    """Build everything from the dataset folder `data` into `out`, reusing what is cached.

    `engine`: duckdb (embedded) or spark for the features (default: the feature settings');
    `models` and `embeddings` default to DEFAULT_MODELS and DEFAULT_EMBEDDINGS. Returns
    {"out", "stages": [{stage, status, seconds, detail}], "seconds", "manifest"}.
    """
    from sparrow.embedding.corpus import METHODS

    started = time.perf_counter()
    console = console or Console(quiet=not progress)
    say: Callable[[str], None] = lambda text: console.print(text, highlight=False)  # noqa: E731
    models = list(DEFAULT_MODELS if models is None else models)
    methods = list(DEFAULT_EMBEDDINGS if embeddings is None else embeddings)
    if unknown := [m for m in methods if m not in METHODS]:
        raise ConfigError(f"unknown embedding {unknown[0]!r}; choose from: {', '.join(METHODS)}")
    features = with_overrides(settings.features, engine=engine)
    inputs = {
        "data": fingerprint(data),
        "sparrow": sparrow.__version__,
        "config_digest": feature_config_digest(features, until),
    }
    stages = Stages(out, say)
    _check_model_names([m for m in models if f"models/{m}" not in stages.units])
    results = [_features(data, out, features, until, inputs, stages, progress)]
    stages = Stages(out, say)  # the features may have replaced the whole directory
    layout = BuildDir(out)
    if "features" not in stages.units:  # a build of `sparrow features build`: adopt it
        stages.record("features", inputs, [layout.relative(layout.manifest_path)], 0.0)
    upstream = {"features": digest(inputs)}
    spark = SparkSettings(master=features.spark_master, conf=features.spark_conf)
    embedding = upstream | {
        "settings": settings.embedding.model_dump(mode="json"),
        "spark": spark.model_dump(),
    }
    embed_units = [
        (f"embeddings/{m}", embedding | {"method": m}, _embed(out, m, settings, spark, say))
        for m in methods
    ]
    training = upstream | {"training": settings.training.model_dump(mode="json")}
    train_units = [
        (f"models/{name}", training | {"model": name}, _train(out, name, settings, progress, say))
        for name in models
    ]
    results.append(stages.stage("embeddings", embed_units))
    results.append(stages.stage("models", train_units))
    results.append(stages.stage("evaluation", _evaluation(out, stages, methods, settings, console)))
    return {
        "out": str(out),
        "stages": [asdict(r) for r in results],
        "seconds": round(time.perf_counter() - started, 3),
        "manifest": layout.manifest(),
    }


def _check_model_names(names: list[str]) -> None:
    """Fail before any work on an unknown model name (imports torch only when names are new)."""
    if names:
        from sparrow.models.registry import MODELS

        if unknown := [n for n in names if n not in MODELS]:
            raise ConfigError(f"unknown model {unknown[0]!r}; choose from: {', '.join(MODELS)}")


def _features(
    data: Path,
    out: Path,
    settings: FeatureSettings,
    until: int | None,
    inputs: dict[str, str],
    stages: Stages,
    progress: bool,
) -> StageResult:
    """Reuse the build's features when its manifest matches `inputs`, else rebuild them."""
    from sparrow.features.pipeline import build

    layout = BuildDir(out)
    try:
        found = layout.manifest()
        same = (found.dataset.fingerprint, found.config_digest, found.versions["sparrow"])
    except (DataError, KeyError):
        same = None
    if same == (inputs["data"], inputs["config_digest"], inputs["sparrow"]):
        return stages.announce(StageResult("features", "cached", 0.0))
    started = time.perf_counter()
    manifest = build(data, out, settings, until=until, progress=progress)  # replaces `out`
    seconds = time.perf_counter() - started
    Stages(out, stages.say).record(
        "features", inputs, [layout.relative(layout.manifest_path)], seconds
    )
    rows = manifest.rows
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
        layout = BuildDir(out)
        folder = layout.embedding(info["name"])
        return [layout.relative(folder / name) for name in ("items.parquet", "users.parquet")]

    return run


def _train(
    out: Path, name: str, settings: Settings, progress: bool, say: Callable[[str], None]
) -> Run:
    def run() -> list[str]:
        from sparrow.training.pipeline import train_model

        model = train_model(out, name, settings.training, None, progress)
        m = model.metrics()
        say(
            f"  {name} v{model.version}: test AUC {m['test']['auc']:.4f},"
            f" trained in {m['training']['seconds']:.1f} s"
        )
        layout = BuildDir(out)
        return [layout.relative(model.path / name) for name in ("model.onnx", "metrics.json")]

    return run


def _evaluation(
    out: Path, stages: Stages, methods: list[str], settings: Settings, console: Console
) -> list[tuple[str, dict[str, Any], Run]]:
    """The evaluation unit: every model's latest version and the embeddings, when any."""
    from sparrow.artifacts.models import saved
    from sparrow.artifacts.vectors import embedding_methods

    versions = [[m.name, m.version] for m in saved(out)]
    vectors = {k: v["digest"] for k, v in stages.units.items() if k.startswith("embeddings/")}
    names = [n for n in embedding_methods(out) if n.split("-")[0] in methods]

    def run() -> list[str]:
        from sparrow.embedding.evaluate import evaluate
        from sparrow.evaluation.offline import evaluate_models

        layout, outputs = BuildDir(out), []
        if versions:
            evaluate_models(out, ncf=False, threads=settings.training.threads, console=console)
            outputs.append(layout.relative(layout.report("report.json")))
        if names:
            report, path = evaluate(out, names)
            for name, m in report["next_item"].items():
                console.print(f"  {name}: next liked movie HR@10 {m['hr@10']:.3f}", highlight=False)
            outputs.append(layout.relative(path))
        return outputs

    inputs = {"models": versions, "embeddings": vectors, "methods": names}
    return [("evaluation", inputs, run)] if versions or names else []


def summary_table(result: dict[str, Any]) -> Table:
    """The stages of a `build_all` result: status and seconds, and the total."""
    table = Table(title=f"sparrow build {result['out']}")
    for column in ("stage", "status", "seconds", "detail"):
        table.add_column(column, justify="right" if column == "seconds" else "left")
    for s in result["stages"]:
        table.add_row(s["stage"], s["status"], f"{s['seconds']:.1f}", s["detail"])
    table.add_row("total", "", f"{result['seconds']:.1f}", "", style="bold")
    return table
