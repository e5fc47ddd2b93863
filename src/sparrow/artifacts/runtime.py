"""A saved model as serving runs it: its encoders and ONNX Runtime, no torch."""

from pathlib import Path

import numpy as np
import pyarrow as pa

from sparrow.artifacts.encoders import Encoders
from sparrow.artifacts.inputs import MOVIE_NUMERIC

BATCH = 8192
MOVIE_INPUTS = ("movie_id", "movie_genres")  # the candidate's inputs (and numeric[MOVIE_NUMERIC])


class OnnxModel:
    """Scores rows with the sample columns through `model.onnx` and the model's own encoders."""

    def __init__(self, folder: Path, threads: int = 1) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.folder = folder
        self.encoders = Encoders.load(folder)
        self.session = ort.InferenceSession(
            str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = [i.name for i in self.session.get_inputs()]

    def score_inputs(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Probabilities (N,) for encoded inputs, in batches."""
        n = len(inputs["movie_id"])
        out = [
            self.session.run(None, {k: inputs[k][s : s + BATCH] for k in self.inputs})[0]
            for s in range(0, n, BATCH)
        ]
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def score(self, rows: pa.Table) -> np.ndarray:
        """Probabilities (N,) for rows with the sample columns."""
        return self.score_inputs(self.encoders.encode(rows))


Inputs = dict[str, np.ndarray]  # model input name -> array (see `artifacts.inputs`)


def pair_inputs(movies: Inputs, user: Inputs) -> Inputs:
    """The inputs of N candidates for one user: the candidates' movie side (`MOVIE_INPUTS` and
    the `MOVIE_NUMERIC` columns of `numeric`, N rows) beside the user's (the other inputs and
    columns of a 1-row encoding): what `encode` gives for the N rows (it encodes row-wise)."""
    n = len(movies["movie_id"])
    out = {name: movies[name] for name in MOVIE_INPUTS}
    out |= {name: np.repeat(value, n, 0) for name, value in user.items() if name not in out}
    out["numeric"][:, MOVIE_NUMERIC] = movies["numeric"][:, MOVIE_NUMERIC]
    return out
