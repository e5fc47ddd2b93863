"""The training loop: seeded mini-batch Adam, validation per epoch, early stopping, progress."""

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn

from sparrow.artifacts.inputs import INPUTS, OOV, PAD
from sparrow.config import TrainingSettings
from sparrow.evaluation.metrics import logloss, roc_auc
from sparrow.models.layers import flush_denormals
from sparrow.training.dataset import Samples

log = logging.getLogger("sparrow.train")
SCORE_BATCH = 8192


@dataclass
class Fit:
    """What training did: one record per epoch, the best epoch (whose weights are kept), speed."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    seconds: float = 0.0
    samples_per_s: float = 0.0


def _tensors(inputs: dict[str, np.ndarray], rows: np.ndarray | slice) -> list[torch.Tensor]:
    return [torch.from_numpy(inputs[name][rows]) for name in INPUTS]


def predict(model: nn.Module, samples: Samples) -> np.ndarray:
    """Probabilities (N,) for every row, in batches, without gradients."""
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(samples), SCORE_BATCH):
            rows = slice(start, start + SCORE_BATCH)
            out.append(torch.sigmoid(model(*_tensors(samples.inputs, rows))).numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def _batches(n: int, size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    order = rng.permutation(n)
    for start in range(0, n, size):
        yield order[start : start + size]


def _negatives(history: torch.Tensor, movies: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """A movie drawn from the training rows' candidates for each history slot, never the slot's
    own movie (drawn again once; a remaining clash moves to the next drawn movie)."""
    drawn = torch.from_numpy(movies[rng.integers(0, len(movies), tuple(history.shape))])
    clash = drawn == history
    drawn[clash] = torch.from_numpy(movies[rng.integers(0, len(movies), int(clash.sum()))])
    return torch.where(drawn == history, (drawn + 1).clamp(min=OOV + 1), drawn)


def fit(
    model: nn.Module,
    train: Samples,
    valid: Samples,
    settings: TrainingSettings,
    progress: bool = True,
) -> Fit:
    """Train `model` on `train`, keep the weights of the epoch with the best validation AUC.

    Stops after `settings.patience` epochs without improvement. Models with an
    `auxiliary_loss(inputs, negatives)` (DIEN) get it added, with sampled negative movies.
    """
    torch.manual_seed(settings.seed)
    torch.set_num_threads(settings.threads)
    rng = np.random.default_rng(settings.seed)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay
    )
    loss_fn = nn.BCEWithLogitsLoss()
    auxiliary = getattr(model, "auxiliary_loss", None)
    labels = torch.from_numpy(train.labels)
    report = Fit()
    best, best_state, waited, started = -np.inf, None, 0, time.perf_counter()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[live]}"),
        TimeRemainingColumn(),
    )
    with flush_denormals(), Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task(type(model).__name__, total=settings.epochs * len(train), live="")
        for epoch in range(1, settings.epochs + 1):
            model.train()
            epoch_start, total, seen = time.perf_counter(), 0.0, 0
            for rows in _batches(len(train), settings.batch_size, rng):
                batch = _tensors(train.inputs, rows)
                if settings.id_dropout > 0:  # hide some users: the unknown-user id gets trained
                    hidden = torch.from_numpy(rng.random(len(rows)) < settings.id_dropout)
                    batch[1] = torch.where(hidden & (batch[1] != PAD), OOV, batch[1])
                loss = loss_fn(model(*batch), labels[rows])
                if auxiliary is not None:
                    named = dict(zip(INPUTS, batch, strict=True))
                    negatives = _negatives(named["history"], train.inputs["movie_id"], rng)
                    loss = loss + auxiliary(named, negatives)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * len(rows)
                seen += len(rows)
                bar.update(task, advance=len(rows), live=f"epoch {epoch} loss {total / seen:.4f}")
            seconds = time.perf_counter() - epoch_start
            scores = predict(model, valid)
            record = {
                "epoch": epoch,
                "loss": total / seen,
                "val_logloss": logloss(valid.labels, scores),
                "val_auc": roc_auc(valid.labels, scores),
                "samples_per_s": seen / seconds,
            }
            report.epochs.append(record)
            line = f"model={type(model).__name__} " + " ".join(
                f"{k}={v:.4g}" for k, v in record.items()
            )
            log.info(line)
            if progress:
                bar.console.print(line)
            bar.update(task, live=f"epoch {epoch} val AUC {record['val_auc']:.4f}")
            if record["val_auc"] > best:
                best, report.best_epoch, waited = record["val_auc"], epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                waited += 1
                if waited >= settings.patience:
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    report.seconds = time.perf_counter() - started
    report.samples_per_s = float(np.median([e["samples_per_s"] for e in report.epochs]))
    return report
