"""Versioned model folders in a build: `models/<name>/<version>/`, written atomically.

Each holds `model.onnx` (inputs of `artifacts.inputs`, output `score`), `encoders.json`,
`config.json` (model and training settings, vocabulary sizes, inputs), `metrics.json` and
`curves.png`; a two-tower model also `user_tower.onnx` and `item_tower.onnx`. Versions count up
from 1; serving takes the highest.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparrow.artifacts.layout import BuildDir
from sparrow.errors import DataError


@dataclass(frozen=True)
class SavedModel:
    name: str
    version: int
    path: Path

    def config(self) -> dict[str, Any]:
        return read_json(self.path / "config.json")

    def metrics(self) -> dict[str, Any]:
        return read_json(self.path / "metrics.json")


def saved(build: Path) -> list[SavedModel]:
    """Every complete model version in the build, by name then version."""
    found = []
    for folder in sorted(BuildDir(build).models_dir.glob("*/*/model.onnx")):
        version = folder.parent
        if version.name.isdigit() and (version / "metrics.json").is_file():
            found.append(SavedModel(version.parent.name, int(version.name), version))
    return sorted(found, key=lambda m: (m.name, m.version))


def latest_versions(build: Path) -> dict[str, SavedModel]:
    """The highest version of every trained model, by name."""
    return {m.name: m for m in saved(build)}  # sorted by version: the last one wins


def latest(build: Path, name: str) -> SavedModel:
    """The highest version of model `name`; DataError when it was never trained."""
    found = latest_versions(build).get(name)
    if found is None:
        raise DataError(f"{build} has no trained {name} model; run sparrow train {name}")
    return found


def next_folder(build: Path, name: str) -> Path:
    """Where the next version of `name` goes."""
    versions = [m.version for m in saved(build) if m.name == name]
    return BuildDir(build).models_dir / name / str(max(versions, default=0) + 1)


def read_json(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text(encoding="utf-8")))


def write_json(path: Path, doc: dict[str, Any]) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
