"""Ranking models against DeepCTR-Torch on the same rows: test AUC, logloss, GAUC and speed.

    python bench/models.py                     # every model + DeepCTR peers: ~1-3 minutes
    python bench/models.py --models deepfm,din --skip-peer --epochs 3

On ml-latest-small (time split, the default feature build, cached in --cache) each registry model
is trained by `train_model` into a bench-owned copy of the build (`<cache>/build-small-models`,
wiped each run) with the default TrainingSettings. DeepCTR-Torch's WDL, DeepFM, PNN (inner
product), DIN and DIEN (AUGRU) train on exactly the same fit / validation / test rows and
vocabularies (embedding 16, DNN (128, 64), Adam lr 1e-3, seed 42, same batch, epochs and early
stopping on validation AUC; the test metrics of the best validation epoch are kept). DeepCTR runs
as designed: its summed BCE + L2 on embeddings, no dropout, no id dropout (ours hides 5% of user
ids). Every peer gets the 5-movie history as a VarLenSparseFeat sharing the movie embedding
(ours read it too; WDL/DeepFM/PNN mean-pool it, DIN/DIEN attend), reordered oldest-first because
DIEN's GRUs read it in time order; DIEN gets negatives (one random fit-row movie per slot, drawn
once) so its auxiliary loss is on, as ours is. Then: DeepFM training samples/s at 2 threads, and
ONNX Runtime latency of DeepFM for 1,000 candidates (one thread). Prints tables, writes JSON.
"""

import argparse
import contextlib
import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from common import CACHE, REPO, dataset
from sparrow.artifacts.encoders import Encoders
from sparrow.artifacts.inputs import NUMERIC, PAD, FeatureSpec
from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.runtime import OnnxModel
from sparrow.config import FeatureSettings, TrainingSettings
from sparrow.evaluation.metrics import gauc, logloss, roc_auc
from sparrow.features.pipeline import build
from sparrow.models import registry
from sparrow.training.dataset import Samples, carve_validation
from sparrow.training.pipeline import train_model

PEERS = {"wide_deep": "WDL", "deepfm": "DeepFM", "pnn": "PNN", "din": "DIN", "dien": "DIEN"}
DIM, HIDDEN, SCORE_BATCH = 16, (128, 64), 8192
CANDIDATES, WARMUP, REPEATS = 1000, 20, 200


def scratch_build(cache: Path) -> Path:
    """A fresh bench-owned copy (manifest and samples) of the cached ml-latest-small build."""
    source = cache / "build-small"
    if not (source / "manifest.json").is_file():
        build(dataset("small", cache), source, FeatureSettings(), progress=False)
    out = cache / "build-small-models"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(source / "samples", out / "samples")
    shutil.copy2(source / "manifest.json", out / "manifest.json")
    return out


def ours(build_dir: Path, name: str, settings: TrainingSettings) -> dict[str, Any]:
    """Train model `name` with train_model; its saved test metrics and training figures."""
    saved = train_model(build_dir, name, settings, progress=False)
    m = saved.metrics()
    t = m["training"]
    return {
        "test": m["test"],
        "seconds": t["seconds"],
        "samples_per_s": t["samples_per_s"],
        "best_epoch": t["best_epoch"],
        "epochs_run": len(t["epochs"]),
        "folder": str(saved.path),
    }


def peer_rows(
    settings: TrainingSettings, build_dir: Path
) -> tuple[FeatureSpec, dict[str, Samples]]:
    """Fit, validation and test rows encoded exactly as train_model encodes them."""
    fit_rows, valid_rows = carve_validation(
        BuildDir(build_dir).read_samples("train"), settings.validation
    )
    encoders = Encoders.fit(fit_rows, settings.min_count)
    rows = {"fit": fit_rows, "valid": valid_rows, "test": BuildDir(build_dir).read_samples("test")}
    return encoders.spec(), {k: Samples.encode(v, encoders) for k, v in rows.items()}


def peer_inputs(samples: Samples, movies: np.ndarray, rng: np.random.Generator) -> dict[str, Any]:
    """DeepCTR's named input columns; history oldest-first (ours: most recent first, 0-padded
    at the end), its length, and a sampled negative movie per valid history slot."""
    x = samples.inputs
    history = x["history"]
    length = (history != PAD).sum(1)
    slot = np.arange(history.shape[1])[None, :]
    history = np.take_along_axis(
        history, np.where(slot < length[:, None], length[:, None] - 1 - slot, slot), 1
    )
    drawn = movies[rng.integers(0, len(movies), history.shape)]
    drawn = np.where(drawn == history, movies[rng.integers(0, len(movies), history.shape)], drawn)
    cols: dict[str, Any] = {
        "movie_id": x["movie_id"],
        "user_id": x["user_id"],
        "hist_movie_id": history,
        "hist_len": length,
        "neg_hist_movie_id": np.where(history == PAD, PAD, drawn),
    }
    for k in range(x["movie_genres"].shape[1]):
        cols[f"movie_genre{k + 1}"] = x["movie_genres"][:, k]
    for k in range(x["user_genres"].shape[1]):
        cols[f"user_genre{k + 1}"] = x["user_genres"][:, k]
    cols.update({name: x["numeric"][:, k] for k, name in enumerate(NUMERIC)})
    return cols


def peer_model(dc: Any, name: str, spec: FeatureSpec, seed: int) -> Any:
    """DeepCTR model for our `name`, with its feature columns over our vocabularies."""
    sparse, dense, varlen = dc.inputs.SparseFeat, dc.inputs.DenseFeat, dc.inputs.VarLenSparseFeat

    def history(column: str) -> Any:
        feat = sparse(column, spec.movies, DIM, embedding_name="movie_id")
        return varlen(feat, maxlen=spec.history, length_name="hist_len")

    genres = [f"movie_genre{k + 1}" for k in range(spec.movie_genre_slots)]
    genres += [f"user_genre{k + 1}" for k in range(spec.user_genre_slots)]
    cols = [
        sparse("movie_id", spec.movies, DIM),
        sparse("user_id", spec.users, DIM),
        *(sparse(g, spec.genres, DIM, embedding_name="genre") for g in genres),
        *(dense(n, 1) for n in NUMERIC),
        history("hist_movie_id"),
    ]
    common = {"dnn_hidden_units": HIDDEN, "seed": seed, "device": "cpu"}
    models = dc.models
    if name in ("wide_deep", "deepfm"):
        return getattr(models, PEERS[name])(cols, cols, **common)
    if name == "pnn":
        return models.PNN(cols, use_inner=True, use_outter=False, **common)
    if name == "din":
        return models.DIN(cols, ["movie_id"], **common)
    cols.append(history("neg_hist_movie_id"))
    return models.DIEN(cols, ["movie_id"], gru_type="AUGRU", use_negsampling=True, **common)


def peer(
    dc: Any, name: str, spec: FeatureSpec, data: dict[str, Samples], settings: TrainingSettings
) -> dict[str, Any]:
    """Train DeepCTR's `name` epoch by epoch; test metrics of the best validation-AUC epoch."""
    torch.set_num_threads(settings.threads)
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    movies = data["fit"].inputs["movie_id"]
    x = {k: peer_inputs(s, movies, rng) for k, s in data.items()}
    model = peer_model(dc, name, spec, settings.seed)
    model.compile(torch.optim.Adam(model.parameters(), lr=settings.lr), "binary_crossentropy", [])
    test = data["test"]
    best, best_epoch, waited, seconds, records = -np.inf, 0, 0, 0.0, []
    result: dict[str, Any] = {}
    for epoch in range(1, settings.epochs + 1):
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # fit prints the device and row counts
            model.fit(x["fit"], data["fit"].labels, settings.batch_size, epochs=1, verbose=0)
        rate = len(data["fit"]) / (time.perf_counter() - start)
        val_auc = roc_auc(data["valid"].labels, model.predict(x["valid"], SCORE_BATCH).ravel())
        seconds += time.perf_counter() - start  # as ours: training plus validation scoring
        scores = model.predict(x["test"], SCORE_BATCH).ravel()
        metrics = {
            "auc": roc_auc(test.labels, scores),
            "logloss": logloss(test.labels, scores),
            "gauc": gauc(test.users, test.labels, scores),
            "rows": len(test),
        }
        records.append(
            {"epoch": epoch, "val_auc": val_auc, "samples_per_s": rate, "test_auc": metrics["auc"]}
        )
        if val_auc > best:
            best, best_epoch, waited, result = val_auc, epoch, 0, metrics
        else:
            waited += 1
            if waited >= settings.patience:
                break
    return {
        "test": result,
        "seconds": seconds,
        "best_epoch": best_epoch,
        "epochs": records,
        "samples_per_s": float(np.median([r["samples_per_s"] for r in records])),
    }


def speed(build_dir: Path, settings: TrainingSettings) -> dict[str, Any]:
    """Our DeepFM's training samples/s at 2 threads; ONNX latency for 1,000 candidates."""
    two = settings.model_copy(update={"threads": 2})
    saved = train_model(build_dir, "deepfm", two, progress=False)
    model = OnnxModel(saved.path, threads=1)
    inputs = model.encoders.encode(BuildDir(build_dir).read_samples("test").slice(0, CANDIDATES))
    timings = []
    for i in range(WARMUP + REPEATS):
        start = time.perf_counter()
        model.score_inputs(inputs)
        if i >= WARMUP:
            timings.append((time.perf_counter() - start) * 1000)
    return {
        "deepfm_threads2_samples_per_s": saved.metrics()["training"]["samples_per_s"],
        "deepfm_threads2_folder": str(saved.path),
        "onnx_candidates": CANDIDATES,
        "onnx_repeats": REPEATS,
        "onnx_ms_median": float(np.median(timings)),
        "onnx_ms_p99": float(np.percentile(timings, 99)),
    }


def verdict(results: dict[str, Any]) -> tuple[bool | None, str]:
    """Whether every neural model beats popularity and logistic on test AUC, and why not."""
    auc = {n: r["ours"]["test"]["auc"] for n, r in results.items()}
    bars = [b for b in ("popularity", "logistic") if b in auc]
    neural = [n for n in auc if n in registry.NEURAL]
    if not bars or not neural:
        return None, "n/a (needs popularity or logistic and a neural model)"
    losers = [
        f"{n} {auc[n]:.4f} <= {b} {auc[b]:.4f}" for n in neural for b in bars if auc[n] <= auc[b]
    ]
    return not losers, "yes" if not losers else "no: " + "; ".join(losers)


def report(results: dict[str, Any], speeds: dict[str, Any], beats: str, threads: int) -> None:
    console = Console(width=max(130, shutil.get_terminal_size().columns))  # 12 columns: no wrap
    table = Table(title=f"ml-latest-small time split, test set (threads {threads}; * baseline)")
    heads = (
        "model",
        "AUC",
        "logloss",
        "GAUC",
        "s",
        "samples/s",
        "best ep",
        "DeepCTR AUC",
        "logloss",
        "GAUC",
        "s",
        "Δ AUC",
    )
    for head in heads:
        table.add_column(head, justify="left" if head == "model" else "right")
    for name, r in results.items():
        o, p = r["ours"], r["deepctr"]
        cells = [f"{o['test'][k]:.4f}" for k in ("auc", "logloss", "gauc")]
        cells += [f"{o['seconds']:.1f}", f"{o['samples_per_s']:,.0f}", str(o["best_epoch"])]
        if p is None:
            cells += ["—"] * 5
        elif "error" in p:
            cells += [f"failed: {p['error'][:40]}", "", "", "", ""]
        else:
            cells += [f"{p['test'][k]:.4f}" for k in ("auc", "logloss", "gauc")]
            cells += [f"{p['seconds']:.1f}", f"{o['test']['auc'] - p['test']['auc']:+.4f}"]
        table.add_row(name + (" *" if r["baseline"] else ""), *cells)
    console.print(table)
    console.print(f"every neural model beats popularity and logistic on test AUC: {beats}")
    behind = [
        f"{n} by {p['test']['auc'] - r['ours']['test']['auc']:.4f}"
        for n, r in results.items()
        if (p := r["deepctr"]) and "test" in p and p["test"]["auc"] > r["ours"]["test"]["auc"]
    ]
    console.print(f"ours below DeepCTR on test AUC: {', '.join(behind) or 'none'}")
    if speeds:
        console.print(
            f"DeepFM training, 2 threads: {speeds['deepfm_threads2_samples_per_s']:,.0f}"
            " samples/s (median over epochs)"
        )
        console.print(
            f"DeepFM ONNX Runtime, {CANDIDATES:,} candidates, 1 thread: median "
            f"{speeds['onnx_ms_median']:.2f} ms, p99 {speeds['onnx_ms_p99']:.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(registry.model_names()), help="a,b,...")
    parser.add_argument("--skip-peer", action="store_true", help="no DeepCTR-Torch runs")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for training")
    parser.add_argument("--epochs", type=int, default=TrainingSettings().epochs)
    parser.add_argument("--cache", type=Path, default=CACHE, help="where data and builds are kept")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "models.json")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    for name in names:
        registry.config_class(name)  # an unknown name fails before any work
    settings = TrainingSettings(threads=args.threads, epochs=args.epochs)
    build_dir = scratch_build(args.cache)
    console = Console()
    results: dict[str, Any] = {}
    for name in names:
        console.log(f"ours: {name}")
        results[name] = {
            "baseline": name in registry.BASELINES,
            "ours": ours(build_dir, name, settings),
            "deepctr": None,
        }
    peers, version = [n for n in names if n in PEERS and not args.skip_peer], None
    if peers:
        import deepctr_torch as dc

        version, (spec, data) = dc.__version__, peer_rows(settings, build_dir)
        for name in peers:
            console.log(f"DeepCTR: {PEERS[name]}")
            try:
                found = peer(dc, name, spec, data, settings)
            except Exception as error:  # a peer broken on this torch is reported, not fatal
                found = {"error": f"{type(error).__name__}: {error}"}
            results[name]["deepctr"] = {"model": PEERS[name], **found}
    console.log("speed: DeepFM at 2 threads, ONNX latency")
    speeds = speed(build_dir, settings)
    beats, why = verdict(results)
    report(results, speeds, why, args.threads)
    doc = {
        "dataset": "ml-latest-small",
        "build": str(build_dir),
        "settings": settings.model_dump(),
        "versions": {"deepctr_torch": version, "torch": torch.__version__},
        "models": results,
        "neural_beat_popularity_and_logistic": beats,
        "neural_beat_detail": why,
        "speed": speeds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
