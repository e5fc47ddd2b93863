"""`sparrow features build`: dataset -> build directory (samples, online features, manifest).

The build is written to a temporary folder and renamed into place, so a failed build never
leaves a half-written build directory that looks complete, and an existing build is replaced
only by a complete new one.
"""

import hashlib
import json
import platform
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

import sparrow
from sparrow.atomic import atomic_dir
from sparrow.config import FeatureSettings
from sparrow.errors import BuildError, ConfigError
from sparrow.features.definitions import Definitions
from sparrow.features.spec import BuildSpec
from sparrow.plugins import load_backend

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


class StepTimer:
    """Times each step; shows a progress bar per step on stderr when `show`."""

    def __init__(self, show: bool) -> None:
        self.timings: dict[str, float] = {}
        self.bar = RichProgress(
            TextColumn("{task.description:<16}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), disable=not show, transient=False,
        )  # fmt: skip

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
        split=settings.split,
        test_fraction=settings.test_fraction,
        sample=settings.sample,
        seed=settings.seed,
        until=until,
        definitions=definitions,
    )


def build(
    data: Path, out: Path, settings: FeatureSettings, *, until: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:  # fmt: skip
    """Build features from the dataset folder `data` into the build directory `out`."""
    _check_replaceable(out)
    spec = spec_from_settings(settings, until)
    engine = load_backend("engine", settings.engine)(settings)
    timer = StepTimer(progress)
    started = time.perf_counter()
    with timer.bar, atomic_dir(out, overwrite=True) as tmp:
        try:
            result = engine.build(data, tmp, spec, timer)
        except ValueError as exc:
            raise BuildError(f"feature build failed: {exc}") from exc
        parameters = {"engine": settings.engine, **asdict(spec)}
        manifest = {
            "kind": "sparrow-build",
            "format": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "dataset": _describe_dataset(data, result.dataset, result.layout),
            "parameters": parameters,
            "config_digest": _digest(parameters),
            "as_of": result.as_of,
            "split": {"mode": spec.split, "test_fraction": spec.test_fraction,
                      "cutoff_ts": result.cutoff},
            "genres": result.genres,
            "rows": result.rows,
            "positive_rate": _positive_rates(tmp),
            "timings_s": timer.timings | {"total": round(time.perf_counter() - started, 3)},
            "versions": _versions(),
        }  # fmt: skip
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def _check_replaceable(out: Path) -> None:
    """Refuse to replace a folder that is neither absent, empty, nor a previous build."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out} is a file, not a build directory")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ConfigError(
            f"--out {out} is a non-empty folder that is not a build; refusing to replace it"
        )


def _describe_dataset(path: Path, name: str, layout: str) -> dict[str, Any]:
    """Where the data came from, with a cheap fingerprint of its files (name, size, mtime)."""
    files = sorted(p for p in path.iterdir() if p.is_file())
    stamp = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return {
        "path": str(path.resolve()),
        "name": name,
        "layout": layout,
        "files": {p.name: p.stat().st_size for p in files},
        "fingerprint": _digest(stamp),
    }


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def _positive_rates(folder: Path) -> dict[str, float | None]:
    rates: dict[str, float | None] = {}
    for split in ("train", "test"):
        labels = pq.read_table(folder / "samples" / f"{split}.parquet", columns=["label"])["label"]
        rates[split] = round(pc.mean(labels).as_py(), 4) if len(labels) else None
    return rates


def _versions() -> dict[str, str]:
    packages = ("duckdb", "pyarrow", "numpy")
    return {"sparrow": sparrow.__version__, "python": platform.python_version()} | {
        name: version(name) for name in packages
    }
