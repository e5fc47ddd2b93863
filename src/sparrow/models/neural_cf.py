"""Neural collaborative filtering: NeuMF (He et al. 2017) on ids only, and a two-tower model
whose user and item vectors export separately (item vectors are indexed for recall).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn

from sparrow.artifacts.inputs import MOVIE_NUMERIC, USER_NUMERIC, FeatureSpec
from sparrow.models.layers import MLP, Embeddings, masked_mean, table


@dataclass(frozen=True)
class NeuMFConfig:
    """GMF and MLP branches each have their own user and movie tables (as in the paper).

    With `side_features`, the MLP branch also reads the genres, the history and the numeric
    features (the paper's NeuMF reads ids only: on a time split, where most test users are new,
    ids alone lose to logistic regression on features).
    """

    gmf_dim: int = 16
    mlp_dim: int = 16
    hidden: tuple[int, ...] = (64, 32, 16)  # the paper's halving tower
    dropout: float = 0.1
    side_features: bool = True


class NeuMF(nn.Module):
    """Final linear over concat(GMF user ⊙ movie, MLP(concat(user, movie[, side features])))."""

    def __init__(self, spec: FeatureSpec, config: NeuMFConfig) -> None:
        super().__init__()
        self.config = config
        self.gmf_movie = table(spec.movies, config.gmf_dim)
        self.gmf_user = table(spec.users, config.gmf_dim)
        self.mlp_movie = table(spec.movies, config.mlp_dim)
        self.mlp_user = table(spec.users, config.mlp_dim)
        self.genre = table(spec.genres, config.mlp_dim) if config.side_features else None
        width = 2 * config.mlp_dim + (3 * config.mlp_dim + spec.numeric) * config.side_features
        self.mlp = MLP(width, config.hidden, config.dropout, out=None)
        self.out = nn.Linear(config.gmf_dim + self.mlp.width, 1)

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        gmf = self.gmf_user(user_id) * self.gmf_movie(movie_id)  # (B, Dg)
        parts = [self.mlp_user(user_id), self.mlp_movie(movie_id)]  # (B, Dm) each
        if self.genre is not None:
            parts += [
                masked_mean(self.genre(movie_genres), movie_genres),
                masked_mean(self.genre(user_genres), user_genres),
                masked_mean(self.mlp_movie(history), history),
                numeric,
            ]
        logit: torch.Tensor = self.out(torch.cat([gmf, self.mlp(torch.cat(parts, 1))], 1))  # (B, 1)
        return logit.squeeze(-1)  # (B,)


@dataclass(frozen=True)
class TwoTowerConfig:
    """Both towers: embeddings of `dim` -> MLP `hidden` -> a unit vector of size `vector`."""

    dim: int = 16
    hidden: tuple[int, ...] = (128,)
    vector: int = 32
    dropout: float = 0.1


class _Tower(nn.Module):
    """Some fields, concatenated -> MLP -> unit vector; `fields` embedding fields, `columns`
    of `numeric`.
    """

    def __init__(
        self,
        embeddings: Embeddings,
        spec: FeatureSpec,
        config: TwoTowerConfig,
        fields: int,
        columns: slice,
    ) -> None:
        super().__init__()
        self.embeddings = embeddings
        width = fields * embeddings.dim + len(range(spec.numeric)[columns])
        self.mlp = MLP(width, config.hidden, config.dropout, out=config.vector)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """(B, W) concatenated fields -> (B, V) unit vectors."""
        return nn.functional.normalize(self.mlp(x), dim=-1)


class UserTower(_Tower):
    """(user, mean user genres, mean history, user numeric) -> MLP -> unit vector (B, V)."""

    inputs = ("user_id", "user_genres", "history", "numeric")

    def __init__(self, embeddings: Embeddings, spec: FeatureSpec, config: TwoTowerConfig) -> None:
        super().__init__(embeddings, spec, config, 3, USER_NUMERIC)

    def forward(
        self,
        user_id: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        e = self.embeddings
        x = torch.cat(
            [
                e.user(user_id),  # (B, D)
                masked_mean(e.genre(user_genres), user_genres),
                masked_mean(e.movie(history), history),
                numeric[:, USER_NUMERIC],  # (B, Nu)
            ],
            dim=1,
        )  # (B, 3D + Nu)
        return self.project(x)  # (B, V)


class ItemTower(_Tower):
    """(movie, mean movie genres, movie numeric) -> MLP -> unit vector (B, V)."""

    inputs = ("movie_id", "movie_genres", "numeric")

    def __init__(self, embeddings: Embeddings, spec: FeatureSpec, config: TwoTowerConfig) -> None:
        super().__init__(embeddings, spec, config, 2, MOVIE_NUMERIC)

    def forward(
        self, movie_id: torch.Tensor, movie_genres: torch.Tensor, numeric: torch.Tensor
    ) -> torch.Tensor:
        e = self.embeddings
        x = torch.cat(
            [
                e.movie(movie_id),  # (B, D)
                masked_mean(e.genre(movie_genres), movie_genres),
                numeric[:, MOVIE_NUMERIC],  # (B, Nm)
            ],
            dim=1,
        )  # (B, 2D + Nm)
        return self.project(x)  # (B, V)


class TwoTower(nn.Module):
    """logit = scale * cos(user vector, item vector) + bias, scale = exp(learned) > 0.

    The towers share one set of tables (the history and the candidate use the movie table).
    Vectors are unit length, so an inner-product index over item vectors ranks a user's
    candidates exactly as the model does.
    """

    def __init__(self, spec: FeatureSpec, config: TwoTowerConfig) -> None:
        super().__init__()
        self.config = config
        embeddings = Embeddings(spec, config.dim)
        self.user_tower = UserTower(embeddings, spec, config)
        self.item_tower = ItemTower(embeddings, spec, config)
        self.log_scale = nn.Parameter(torch.tensor(math.log(10.0)))  # cosine in [-1, 1] -> ±10
        self.bias = nn.Parameter(torch.zeros(()))

    def towers(self) -> dict[str, tuple[nn.Module, tuple[str, ...]]]:
        """Each tower and the model inputs its forward takes, in order: one ONNX file each."""
        return {
            "user_tower": (self.user_tower, UserTower.inputs),
            "item_tower": (self.item_tower, ItemTower.inputs),
        }

    def score(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits (B,) of tower outputs users, items (B, V)."""
        return self.log_scale.exp() * (users * items).sum(-1) + self.bias

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        users = self.user_tower(user_id, user_genres, history, numeric)  # (B, V)
        items = self.item_tower(movie_id, movie_genres, numeric)  # (B, V)
        return self.score(users, items)  # (B,)
