"""The build directory: every path of a build, its typed manifest, and the digests that name
its inputs. The one place that knows where a build keeps what.

    manifest.json        Manifest: the dataset, the build parameters and their digest, rows
    stages.json          the cache of `sparrow build` (one record per unit of work)
    catalog/             the canonical tables of the build's time window (ratings with a split)
    samples/             train.parquet, test.parquet (SAMPLE_SCHEMA)
    features/            movies.parquet, users.parquet (online features), user_history.parquet
    embeddings/<method>/ items.parquet, users.parquet, config.json
    models/<name>/<n>/   model.onnx, encoders.json, config.json, metrics.json, curves.png
    reports/             report.json, report.html, curves.png, embeddings.json
    events/              events.log (POST /events), its .offset and .dead, flink-segments/
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, ValidationError

from sparrow.artifacts.schema import Definitions
from sparrow.errors import DataError

FORMAT_VERSION = 1
Split = Literal["train", "test"]
CatalogTable = Literal["items", "links", "tags", "users", "ratings"]
FeatureTable = Literal["movies", "users", "user_history"]


def digest(value: object) -> str:
    """Short SHA-256 of `value` as canonical JSON: how the manifest and the build's stages name
    their inputs."""
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]


def dataset_files(folder: Path) -> list[Path]:
    """The files of a dataset folder, by name (DataError when it is not a folder)."""
    if not folder.is_dir():
        raise DataError(f"--data {folder}: no such dataset folder")
    return sorted(p for p in folder.iterdir() if p.is_file())


def fingerprint(folder: Path) -> str:
    """A dataset folder's cheap fingerprint: the digest of each file's name, size and mtime."""
    return digest([(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in dataset_files(folder)])


@dataclass(frozen=True)
class BuildSpec:
    """Every parameter of a feature build (the manifest's `parameters`); its digest, the
    manifest's `config_digest`, identifies the build's content."""

    engine: str = "duckdb"
    split: Literal["time", "random"] = "time"
    test_fraction: float = 0.2
    sample: float = 1.0  # fraction of samples kept, chosen by a seeded hash of (user, movie)
    seed: int = 42
    until: int | None = None  # ignore every rating and tag after this Unix time
    definitions: Definitions = field(default_factory=Definitions)

    def digest(self) -> str:
        return digest(asdict(self))


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True)


class DatasetInfo(_Record):
    """Where a build's data came from."""

    path: str
    name: str  # the dataset folder's name
    layout: str  # its MovieLens layout
    files: dict[str, int]  # file name -> size
    fingerprint: str

    @classmethod
    def of(cls, folder: Path, name: str, layout: str) -> "DatasetInfo":
        files = dataset_files(folder)
        return cls(
            path=str(folder.resolve()),
            name=name,
            layout=layout,
            files={p.name: p.stat().st_size for p in files},
            fingerprint=fingerprint(folder),
        )


class SplitInfo(_Record):
    mode: Literal["time", "random"]
    test_fraction: float
    cutoff_ts: int | None  # time split: the first timestamp of the test period


class Manifest(_Record):
    """`manifest.json`: what a feature build made, from what, with which parameters."""

    kind: Literal["sparrow-build"] = "sparrow-build"
    format: int = FORMAT_VERSION
    created_at: str
    dataset: DatasetInfo
    parameters: BuildSpec
    config_digest: str
    as_of: int  # the build's clock: the last timestamp features may see
    split: SplitInfo
    genres: list[str]
    rows: dict[str, int]
    positive_rate: dict[str, float | None]  # split -> share of positive samples
    timings_s: dict[str, float]
    versions: dict[str, str]

    @property
    def definitions(self) -> Definitions:
        return self.parameters.definitions


@dataclass(frozen=True)
class BuildDir:
    """The paths of the build directory at `root` (nothing is checked until read)."""

    root: Path

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def stages_path(self) -> Path:
        return self.root / "stages.json"

    def is_build(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> Manifest:
        """The build's manifest (DataError when it is missing or unreadable)."""
        if not self.manifest_path.is_file():
            raise DataError(
                f"{self.root} is not a build directory (no manifest.json); "
                "run sparrow features build"
            )
        try:
            return Manifest.model_validate_json(self.manifest_path.read_bytes())
        except (OSError, ValidationError) as exc:
            raise DataError(f"{self.manifest_path} is unreadable or incomplete: {exc}") from exc

    def write_manifest(self, manifest: Manifest) -> None:
        text = json.dumps(manifest.model_dump(mode="json"), indent=2) + "\n"
        self.manifest_path.write_text(text, encoding="utf-8")

    # tables

    @property
    def catalog_dir(self) -> Path:
        return self.root / "catalog"

    def catalog(self, table: CatalogTable) -> Path:
        return self.catalog_dir / f"{table}.parquet"

    def samples(self, split: Split) -> Path:
        return self.root / "samples" / f"{split}.parquet"

    @property
    def features_dir(self) -> Path:
        return self.root / "features"

    def features(self, table: FeatureTable) -> Path:
        return self.features_dir / f"{table}.parquet"

    def read(self, path: Path, columns: list[str] | None = None) -> pa.Table:
        """A table of this build: a file, or a folder of part files (the Spark engine's large
        tables); DataError naming what is missing or unreadable."""
        if not path.exists():
            name = path.relative_to(self.root) if path.is_relative_to(self.root) else path
            raise DataError(
                f"{self.root} is not a complete build: {name} is missing; "
                "run sparrow features build"
            )
        try:
            return pq.read_table(path, columns=columns)
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"cannot read {path}: {exc}") from exc

    def read_samples(self, split: Split) -> pa.Table:
        """The `split` samples; DataError when there are none."""
        path = self.samples(split)
        if not path.exists():
            raise DataError(f"{self.root} has no {split} samples; run sparrow features build first")
        table = self.read(path)
        if table.num_rows == 0:
            raise DataError(f"{path} holds no samples")
        return table

    # what later stages add

    @property
    def embeddings_dir(self) -> Path:
        return self.root / "embeddings"

    def embedding(self, method: str) -> Path:
        """The folder of one embedding method's vectors."""
        return self.embeddings_dir / method

    @property
    def models_dir(self) -> Path:
        return self.root / "models"

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    def report(self, name: str) -> Path:
        """`reports/<name>` (a writer creates the folder)."""
        return self.reports_dir / name

    @property
    def events_log(self) -> Path:
        """The append-only log of `POST /events` (file event log)."""
        return self.root / "events" / "events.log"

    @property
    def flink_segments(self) -> Path:
        """Immutable segments cut from the event log for the Flink runner."""
        return self.root / "events" / "flink-segments"

    def relative(self, path: Path) -> str:
        """`path` relative to the build (how stages.json records outputs)."""
        return str(path.relative_to(self.root))
