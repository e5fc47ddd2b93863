"""Baselines the neural models must beat: popularity, logistic regression, matrix
factorisation. Same inputs and outputs as every ranking model.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sparrow.artifacts.inputs import NUMERIC, FeatureSpec
from sparrow.models.layers import LinearTerm, table


@dataclass(frozen=True)
class PopularityConfig:
    """Nothing to choose."""


class Popularity(nn.Module):
    """Ranks by the movie's point-in-time rating count: scale * movieRatingCount + bias, the
    scale kept positive (exp of a learned value) so training can only calibrate, never reorder.
    """

    column = NUMERIC.index("movieRatingCount")

    def __init__(self, spec: FeatureSpec, config: PopularityConfig) -> None:
        super().__init__()
        self.config = config
        self.log_scale = nn.Parameter(torch.zeros(()))
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        return self.log_scale.exp() * numeric[:, self.column] + self.bias  # (B,)


@dataclass(frozen=True)
class LogisticConfig:
    """Nothing to choose (regularise through the trainer's weight decay)."""


class Logistic(nn.Module):
    """Logistic regression: a weight per movie, user, genre (mean over slots) and history
    movie (mean), plus a linear map of the numeric features.
    """

    def __init__(self, spec: FeatureSpec, config: LogisticConfig) -> None:
        super().__init__()
        self.config = config
        self.linear = LinearTerm(spec)

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        logit: torch.Tensor = self.linear(
            movie_id, user_id, movie_genres, user_genres, history, numeric
        )
        return logit  # (B,)


@dataclass(frozen=True)
class MatrixFactorizationConfig:
    """Factor size (L2 on the factors: the training settings' `weight_decay`)."""

    dim: int = 32


class MatrixFactorization(nn.Module):
    """user · movie + user bias + movie bias + global bias; reads only ids."""

    def __init__(self, spec: FeatureSpec, config: MatrixFactorizationConfig) -> None:
        super().__init__()
        self.config = config
        self.movie = table(spec.movies, config.dim)
        self.user = table(spec.users, config.dim)
        self.movie_bias = table(spec.movies, 1)
        self.user_bias = table(spec.users, 1)
        self.bias = nn.Parameter(torch.zeros(()))

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        dot: torch.Tensor = (self.user(user_id) * self.movie(movie_id)).sum(-1)  # (B,)
        biases: torch.Tensor = self.user_bias(user_id) + self.movie_bias(movie_id)  # (B, 1)
        return dot + biases.squeeze(-1) + self.bias  # (B,)
