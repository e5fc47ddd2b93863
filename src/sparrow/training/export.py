"""ONNX export with a parity check: a model whose ONNX scores differ from PyTorch's fails."""

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sparrow.errors import BuildError

TOLERANCE = 1e-5
OPSET = 17


class _Scored(nn.Module):
    """The model's probability: what serving reads as `score`."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(*inputs))


def to_onnx(
    module: nn.Module, inputs: dict[str, np.ndarray], path: Path, output: str = "score"
) -> float:
    """Export `module` (called with `inputs` in order) to `path`; return the parity error.

    The batch dimension is dynamic. `inputs` (real rows) are also the parity check: ONNX Runtime
    and PyTorch must agree to TOLERANCE, or BuildError is raised and nothing is left at `path`.
    """
    import onnxruntime as ort

    module = module.eval()
    tensors = tuple(torch.from_numpy(v) for v in inputs.values())
    names = list(inputs)
    axes = {name: {0: "batch"} for name in [*names, output]}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript-based exporter
        expected = module(*tensors).numpy()
        torch.onnx.export(
            module,
            tensors,
            str(path),
            input_names=names,
            output_names=[output],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    wanted = {i.name for i in session.get_inputs()}
    got = session.run(None, {k: v for k, v in inputs.items() if k in wanted})[0]
    error = float(np.max(np.abs(got - expected))) if expected.size else 0.0
    if not error <= TOLERANCE:
        path.unlink()
        raise BuildError(f"ONNX export of {type(module).__name__} is off by {error:.2e} (> 1e-5)")
    return error


def export_model(model: nn.Module, inputs: dict[str, np.ndarray], path: Path) -> float:
    """A ranking model to ONNX: inputs as in `sparrow.artifacts.inputs`, output `score` (B,)."""
    return to_onnx(_Scored(model), inputs, path)
