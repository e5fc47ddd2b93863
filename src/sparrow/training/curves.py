"""Training curves as a PNG: loss per epoch (training and validation) and validation AUC."""

from pathlib import Path

from matplotlib.figure import Figure


def plot(epochs: list[dict[str, float]], best_epoch: int, title: str, path: Path) -> None:
    x = [e["epoch"] for e in epochs]
    fig = Figure(figsize=(9, 3.5))
    left, right = fig.subplots(1, 2)
    left.plot(x, [e["loss"] for e in epochs], marker="o", label="training loss")
    left.plot(x, [e["val_logloss"] for e in epochs], marker="o", label="validation logloss")
    left.set_xlabel("epoch")
    left.legend()
    right.plot(x, [e["val_auc"] for e in epochs], marker="o", color="tab:green")
    right.axvline(best_epoch, color="grey", linestyle=":", label=f"kept: epoch {best_epoch}")
    right.set_xlabel("epoch")
    right.set_ylabel("validation AUC")
    right.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
