"""DeepFM (Guo et al. 2017): first-order + FM second-order + deep MLP, the FM and the deep part
reading the same field vectors.

The original gave the FM and the deep part their own embeddings (each `DenseFeatures` layer
owns its variables), crossed only four hand-picked pairs and left the numeric features out of
the FM. Here one embedding set feeds both parts, and the FM crosses all fields.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sparrow.artifacts.inputs import FeatureSpec
from sparrow.models.layers import MLP, Fields, LinearTerm, sum_fields


@dataclass(frozen=True)
class DeepFMConfig:
    """Field vectors of `dim`; the deep MLP over their concatenation."""

    dim: int = 16
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1


class DeepFM(nn.Module):
    """Fields: the five id fields of `Fields` and one per numeric feature (a learned vector
    scaled by the feature's value), F = 5 + N.
    """

    def __init__(self, spec: FeatureSpec, config: DeepFMConfig) -> None:
        super().__init__()
        self.config = config
        self.fields = Fields(spec, config.dim)
        self.numeric = nn.Parameter(torch.randn(spec.numeric, config.dim) * 0.05)  # (N, D)
        self.first = LinearTerm(spec)
        self.deep = MLP((Fields.count + spec.numeric) * config.dim, config.hidden, config.dropout)

    def field_vectors(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        """(B, F, D): what both the FM and the deep part read."""
        ids = self.fields(movie_id, user_id, movie_genres, user_genres, history)  # (B, 5, D)
        return torch.cat([ids, numeric.unsqueeze(-1) * self.numeric], dim=1)  # (B, F, D)

    @staticmethod
    def fm(x: torch.Tensor) -> torch.Tensor:
        """Σ_{i<j} <x_i, x_j> over the fields of x (B, F, D), as ½((Σx)² - Σx²): (B,)."""
        total = sum_fields(x)  # (B, D)
        return 0.5 * ((total * total).sum(1) - (x * x).flatten(1).sum(1))

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        inputs = (movie_id, user_id, movie_genres, user_genres, history, numeric)
        x = self.field_vectors(*inputs)  # (B, F, D)
        first: torch.Tensor = self.first(*inputs)  # (B,)
        deep: torch.Tensor = self.deep(x.flatten(1))  # (B, 1)
        return first + self.fm(x) + deep.squeeze(-1)  # (B,)
