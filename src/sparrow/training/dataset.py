"""Training data: a build's samples, a validation period carved from their end, encoded."""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.artifacts.encoders import Encoders
from sparrow.errors import DataError


@dataclass(frozen=True)
class Samples:
    """Encoded model inputs with their labels, users and times, row-aligned."""

    inputs: dict[str, np.ndarray]
    labels: np.ndarray  # (N,) float32 in {0, 1}
    users: np.ndarray  # (N,) raw userId, for per-user metrics
    ts: np.ndarray  # (N,) int64 seconds

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def encode(cls, rows: pa.Table, encoders: Encoders) -> "Samples":
        return cls(
            inputs=encoders.encode(rows),
            labels=rows["label"].to_numpy().astype(np.float32),
            users=rows["userId"].to_numpy().astype(np.int64),
            ts=rows["timestamp"].to_numpy().astype(np.int64),
        )


def carve_validation(train: pa.Table, fraction: float) -> tuple[pa.Table, pa.Table]:
    """Split training samples in time: rows at or after the `1 - fraction` time quantile validate.

    Every row of the validation period is later than every row left for fitting, as the test
    period is later than the training one.
    """
    ts = train["timestamp"].to_numpy()
    cutoff = np.quantile(ts, 1.0 - fraction, method="higher")
    later = pc.greater_equal(train["timestamp"], pa.scalar(cutoff, pa.int64()))
    fit, valid = train.filter(pc.invert(later)), train.filter(later)
    if fit.num_rows == 0 or valid.num_rows == 0:
        raise DataError("too few distinct training times to carve a validation period")
    return fit, valid
