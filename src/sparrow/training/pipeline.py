"""`sparrow train`: samples -> encoders -> model -> early-stopped training -> ONNX in the build."""

import json
import platform
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from sparrow.artifacts.encoders import Encoders
from sparrow.artifacts.inputs import INPUTS
from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.models import SavedModel, next_folder, write_json
from sparrow.atomic import atomic_dir
from sparrow.config import TrainingSettings
from sparrow.errors import ConfigError
from sparrow.evaluation.metrics import gauc, logloss, roc_auc
from sparrow.models import registry
from sparrow.training.curves import plot
from sparrow.training.dataset import Samples, carve_validation
from sparrow.training.export import export_model, to_onnx
from sparrow.training.loop import fit, predict

PARITY_ROWS = 512  # real test rows the ONNX export is checked on


def train_model(
    build: Path,
    name: str,
    settings: TrainingSettings,
    params: dict[str, Any] | None = None,
    progress: bool = True,
) -> SavedModel:
    """Train model `name` on the build's samples and save it as the next version."""
    model_config = registry.make_config(name, **(params or {}))  # bad settings fail first
    layout = BuildDir(build)
    fit_rows, valid_rows = carve_validation(layout.read_samples("train"), settings.validation)
    encoders = Encoders.fit(fit_rows, settings.min_count)
    train, valid, test = (
        Samples.encode(rows, encoders)
        for rows in (fit_rows, valid_rows, layout.read_samples("test"))
    )
    torch.manual_seed(settings.seed)
    model = registry.model_class(name)(encoders.spec(), model_config)
    result = fit(model, train, valid, settings, progress)
    scores = predict(model, test)
    best = result.epochs[result.best_epoch - 1]
    metrics = {
        "validation": {"auc": best["val_auc"], "logloss": best["val_logloss"]},
        "test": {
            "auc": roc_auc(test.labels, scores),
            "logloss": logloss(test.labels, scores),
            "gauc": gauc(test.users, test.labels, scores),
            "rows": len(test),
        },
        "training": {
            "best_epoch": result.best_epoch,
            "seconds": result.seconds,
            "samples_per_s": result.samples_per_s,
            "rows": len(train),
            "validation_rows": len(valid),
            "epochs": result.epochs,
        },
    }
    folder = next_folder(build, name)
    with atomic_dir(folder) as tmp:
        rows = {k: v[:PARITY_ROWS] for k, v in test.inputs.items()}
        metrics["onnx_parity_max_abs"] = export_model(model, rows, tmp / "model.onnx")
        for tower, (module, inputs) in getattr(model, "towers", dict)().items():
            to_onnx(module, {k: rows[k] for k in inputs}, tmp / f"{tower}.onnx", output="vector")
        encoders.save(tmp)
        write_json(
            tmp / "config.json",
            {
                "name": name,
                "class": type(model).__name__,
                "model": asdict(model_config),
                "params": params or {},
                "training": settings.model_dump(),
                "spec": asdict(encoders.spec()),
                "inputs": list(INPUTS),
                "parameters": sum(p.numel() for p in model.parameters()),
                "build": _build_digest(layout),
                "versions": {"torch": torch.__version__, "python": platform.python_version()},
            },
        )
        write_json(tmp / "metrics.json", metrics)
        plot(
            result.epochs, result.best_epoch, f"{name} ({type(model).__name__})", tmp / "curves.png"
        )
    return SavedModel(name, int(folder.name), folder)


def _build_digest(build: BuildDir) -> dict[str, Any]:
    """What identifies the samples a model was trained on."""
    manifest = build.manifest()
    return {
        "dataset": manifest.dataset.name,
        "fingerprint": manifest.dataset.fingerprint,
        "config_digest": manifest.config_digest,
        "split": manifest.split.model_dump(),
    }


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """`key=value` model settings from the command line; values read as JSON when they parse
    (numbers, true/false, lists), else as strings."""
    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param wants key=value, got {pair!r}")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        params[key.strip()] = value
    return params
