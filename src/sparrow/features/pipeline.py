"""`sparrow features build`: dataset -> build directory (samples, online features, manifest).

The build is written to a temporary folder and renamed into place, so a failed build never
leaves a half-written build directory that looks complete, and an existing build is replaced
only by a complete new one.
"""

import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

import sparrow
from sparrow.artifacts.layout import BuildDir, BuildSpec, DatasetInfo, Manifest, SplitInfo
from sparrow.artifacts.schema import Definitions
from sparrow.atomic import atomic_dir
from sparrow.config import FeatureSettings
from sparrow.errors import BuildError, ConfigError
from sparrow.plugins import load_backend


class StepTimer:
    """Times each step; shows a progress bar per step on stderr when `show`."""

    def __init__(self, show: bool) -> None:
        self.timings: dict[str, float] = {}
        self.bar = RichProgress(
            TextColumn("{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not show,
            transient=False,
        )

    @contextmanager
    def task(self, name: str, total: int) -> Iterator[Callable[[int], None]]:
        """Time step `name`; yield a function advancing its bar by n of `total` rows."""
        task_id = self.bar.add_task(name, total=total)
        start = time.perf_counter()
        yield lambda n: self.bar.advance(task_id, n)
        self.bar.update(task_id, completed=total)
        self.timings[name] = round(time.perf_counter() - start, 3)


def spec_from_settings(settings: FeatureSettings, until: int | None) -> BuildSpec:
    """The engine-neutral build parameters of these settings."""
    definitions = Definitions(
        positive_threshold=settings.positive_threshold,
        history=settings.history,
        sparrow_compat=settings.sparrow_compat,
    )
    return BuildSpec(
        engine=settings.engine,
        split=settings.split,
        test_fraction=settings.test_fraction,
        sample=settings.sample,
        seed=settings.seed,
        until=until,
        definitions=definitions,
    )


def build(
    data: Path,
    out: Path,
    settings: FeatureSettings,
    *,
    until: int | None = None,
    progress: bool = True,
) -> Manifest:
    """Build features from the dataset folder `data` into the build directory `out`."""
    _check_replaceable(BuildDir(out))
    spec = spec_from_settings(settings, until)
    engine = load_backend("engine", settings.engine)(settings)
    timer = StepTimer(progress)
    started = time.perf_counter()
    with timer.bar, atomic_dir(out, overwrite=True) as tmp:
        try:
            result = engine.build(data, tmp, spec, timer)
        except ValueError as exc:
            raise BuildError(f"feature build failed: {exc}") from exc
        built = BuildDir(tmp)
        manifest = Manifest(
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            dataset=DatasetInfo.of(data, result.dataset, result.layout),
            parameters=spec,
            config_digest=spec.digest(),
            as_of=result.as_of,
            split=SplitInfo(
                mode=spec.split, test_fraction=spec.test_fraction, cutoff_ts=result.cutoff
            ),
            genres=result.genres,
            rows=result.rows,
            positive_rate=_positive_rates(built),
            timings_s=timer.timings | {"total": round(time.perf_counter() - started, 3)},
            versions=_versions(),
        )
        built.write_manifest(manifest)
    return manifest


def _check_replaceable(out: BuildDir) -> None:
    """Refuse to replace a folder that is neither absent, empty, nor a previous build."""
    root = out.root
    if root.exists() and not root.is_dir():
        raise ConfigError(f"--out {root} is a file, not a build directory")
    if root.is_dir() and any(root.iterdir()) and not out.is_build():
        raise ConfigError(
            f"--out {root} is a non-empty folder that is not a build; refusing to replace it"
        )


def _positive_rates(build: BuildDir) -> dict[str, float | None]:
    rates: dict[str, float | None] = {}
    for split in ("train", "test"):
        labels = pq.read_table(build.samples(split), columns=["label"])["label"]
        rates[split] = round(pc.mean(labels).as_py(), 4) if len(labels) else None
    return rates


def _versions() -> dict[str, str]:
    packages = ("duckdb", "pyarrow", "numpy")
    return {"sparrow": sparrow.__version__, "python": platform.python_version()} | {
        name: version(name) for name in packages
    }
