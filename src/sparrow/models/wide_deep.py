"""Wide&Deep (Cheng et al. 2016): the Embedding+MLP tower plus a linear model over hashed
crosses of id fields, their logits added.

The original crossed the candidate movie with the user's latest liked movie
(`crossed_column([movieId, userRatedMovie1])`); that is the default cross here.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sparrow.artifacts.inputs import PAD, FeatureSpec
from sparrow.errors import ConfigError
from sparrow.models.emb_mlp import EmbeddingMLP, EmbeddingMLPConfig

PRIME = 1_000_003  # above any vocabulary size: (a * PRIME + b) is distinct for distinct pairs
CROSS_OFFSET = 7_919  # shifts each cross's keys, so two crosses of equal ids use other rows


@dataclass(frozen=True)
class WideDeepConfig:
    """Deep tower as in EmbeddingMLPConfig; `crosses` pairs field names (see `id_fields`)."""

    dim: int = 16
    hidden: tuple[int, ...] = (128, 64)
    dropout: float = 0.1
    crosses: tuple[tuple[str, str], ...] = (("movie_id", "history1"),)
    buckets: int = 100_003  # rows of the hashed cross-weight table


def id_fields(spec: FeatureSpec) -> list[str]:
    """Names of the id columns a cross can use, in the order `Crosses` lays them out."""
    return [
        "movie_id",
        "user_id",
        *(f"history{i + 1}" for i in range(spec.history)),
        *(f"movie_genre{i + 1}" for i in range(spec.movie_genre_slots)),
        *(f"user_genre{i + 1}" for i in range(spec.user_genre_slots)),
    ]


class Crosses(nn.Module):
    """The wide part: a weight per hashed (a, b) id pair, summed over the crosses: (B,).

    Key = (a * PRIME + b + cross * CROSS_OFFSET) % buckets in int64 arithmetic (exports to plain
    ONNX ops). A cross where either side is padding contributes 0.
    """

    left: torch.Tensor  # (C,) column in the id layout of each cross's first field
    right: torch.Tensor  # (C,) and of its second
    offset: torch.Tensor  # (C,)

    def __init__(
        self, spec: FeatureSpec, crosses: tuple[tuple[str, str], ...], buckets: int
    ) -> None:
        super().__init__()
        names = id_fields(spec)
        unknown = {name for pair in crosses for name in pair} - set(names)
        if unknown or not crosses or any(len(pair) != 2 for pair in crosses):
            raise ConfigError(
                f"wide_deep crosses need pairs of: {', '.join(names)} (got {crosses!r})"
            )
        self.buckets = buckets
        self.register_buffer("left", torch.tensor([names.index(a) for a, _ in crosses]))
        self.register_buffer("right", torch.tensor([names.index(b) for _, b in crosses]))
        self.register_buffer("offset", torch.arange(len(crosses)) * CROSS_OFFSET)
        self.weight = nn.Embedding(buckets, 1)
        nn.init.zeros_(self.weight.weight)

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
    ) -> torch.Tensor:
        ids = torch.cat(
            [movie_id.unsqueeze(1), user_id.unsqueeze(1), history, movie_genres, user_genres], 1
        )  # (B, F), laid out as id_fields
        a, b = ids[:, self.left], ids[:, self.right]  # (B, C)
        keys = (a * PRIME + b + self.offset) % self.buckets  # (B, C)
        present = ((a != PAD) & (b != PAD)).to(torch.float32)  # (B, C)
        weights: torch.Tensor = self.weight(keys)  # (B, C, 1)
        return (weights.squeeze(-1) * present).sum(1)  # (B,)


class WideDeep(nn.Module):
    """EmbeddingMLP logit + hashed-cross linear logit."""

    def __init__(self, spec: FeatureSpec, config: WideDeepConfig) -> None:
        super().__init__()
        self.config = config
        self.deep = EmbeddingMLP(
            spec, EmbeddingMLPConfig(config.dim, config.hidden, config.dropout)
        )
        self.wide = Crosses(spec, config.crosses, config.buckets)

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        ids = (movie_id, user_id, movie_genres, user_genres, history)
        deep: torch.Tensor = self.deep(*ids, numeric)  # (B,)
        wide: torch.Tensor = self.wide(*ids)  # (B,)
        return deep + wide
