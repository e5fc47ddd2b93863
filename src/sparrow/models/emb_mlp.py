"""Embedding+MLP (Deep Crossing style): every field's embedding and the numeric features,
concatenated, through an MLP.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sparrow.artifacts.inputs import FeatureSpec
from sparrow.models.layers import MLP, Fields


@dataclass(frozen=True)
class EmbeddingMLPConfig:
    """The original used dim 10 and hidden (128, 128) with no dropout."""

    dim: int = 16
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1


class EmbeddingMLP(nn.Module):
    """concat(movie, user, movie genres, user genres, history, numeric) -> MLP -> logit."""

    def __init__(self, spec: FeatureSpec, config: EmbeddingMLPConfig) -> None:
        super().__init__()
        self.config = config
        self.fields = Fields(spec, config.dim)
        self.mlp = MLP(Fields.count * config.dim + spec.numeric, config.hidden, config.dropout)

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        fields = self.fields(movie_id, user_id, movie_genres, user_genres, history)  # (B, 5, D)
        x = torch.cat([fields.flatten(1), numeric], dim=1)  # (B, 5D + N)
        logit: torch.Tensor = self.mlp(x)  # (B, 1)
        return logit.squeeze(-1)  # (B,)
