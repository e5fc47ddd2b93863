"""Product-based Neural Network (Qu et al. 2016): an MLP over the field vectors (linear signal z)
and their pairwise products (product signal p), IPNN or OPNN.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from sparrow.artifacts.inputs import FeatureSpec
from sparrow.errors import ConfigError
from sparrow.models.layers import MLP, Fields, sum_fields


@dataclass(frozen=True)
class PNNConfig:
    """`product`: "inner" (pairwise dot products) or "outer" (sum-pooled outer product)."""

    dim: int = 16
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    product: Literal["inner", "outer"] = "inner"


class PNN(nn.Module):
    """Fields: the five id fields of `Fields` and the numeric features projected to D.

    The paper's first layer l1 = relu(W_z z + W_p p + b) is the MLP's first Linear over
    concat(z, p). Inner: p = the F(F-1)/2 dot products of field pairs. Outer: p = f_Σ f_Σᵀ
    flattened (D²), f_Σ the sum of the fields (the paper's efficient form).
    """

    pairs: torch.Tensor  # (P,) flat positions i * F + j, i < j, in the (F, F) product matrix

    def __init__(self, spec: FeatureSpec, config: PNNConfig) -> None:
        super().__init__()
        if config.product not in ("inner", "outer"):
            raise ConfigError(f"pnn product must be 'inner' or 'outer', not {config.product!r}")
        self.config = config
        self.fields = Fields(spec, config.dim)
        self.numeric = nn.Linear(spec.numeric, config.dim)
        count = Fields.count + 1
        rows, cols = torch.triu_indices(count, count, offset=1)
        self.register_buffer("pairs", rows * count + cols)
        products = len(self.pairs) if config.product == "inner" else config.dim**2
        self.mlp = MLP(count * config.dim + products, config.hidden, config.dropout)

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        z = torch.cat(
            [
                self.fields(movie_id, user_id, movie_genres, user_genres, history),  # (B, 5, D)
                self.numeric(numeric).unsqueeze(1),  # (B, 1, D)
            ],
            dim=1,
        )  # (B, F, D)
        if self.config.product == "inner":
            p = (z @ z.transpose(1, 2)).flatten(1)[:, self.pairs]  # (B, P)
        else:
            total = sum_fields(z)  # (B, D)
            p = (total.unsqueeze(2) * total.unsqueeze(1)).flatten(1)  # (B, D * D)
        logit: torch.Tensor = self.mlp(torch.cat([z.flatten(1), p], dim=1))  # (B, 1)
        return logit.squeeze(-1)  # (B,)
