"""A saved model as serving runs it: its encoders and ONNX Runtime, no torch."""

from pathlib import Path

import numpy as np
import pyarrow as pa

from sparrow.training.encoders import Encoders

BATCH = 8192


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
