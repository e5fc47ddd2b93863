"""DIN, Deep Interest Network (Zhou et al. 2018): the candidate attends over the user's history.

Each behaviour gets a scalar weight from an activation unit on [h, c, h - c, h * c] (no softmax,
as in the paper) and the interest is the weighted sum of behaviours. Unlike the original course
code, padded history slots are masked: their weight is exactly 0, so they contribute nothing.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sparrow.artifacts.inputs import MOVIE_NUMERIC, PAD, USER_NUMERIC, FeatureSpec
from sparrow.models.layers import MLP, Embeddings, masked_mean, sum_fields


@dataclass(frozen=True)
class DINConfig:
    """Sizes of the DIN (defaults for MovieLens ml-latest-small)."""

    dim: int = 16  # embedding size of movies, users and genres
    attention_hidden: tuple[int, ...] = (64,)  # activation-unit hidden sizes (PReLU)
    hidden: tuple[int, ...] = (128, 64)  # top MLP
    dropout: float = 0.1  # top MLP


class AttentionUnit(nn.Module):
    """Activation unit: a raw scalar score per key from [key, query, key - query, key * query].

    Linear -> PReLU for each hidden size, then Linear to 1. Returns unmasked scores: the caller
    masks (DIN multiplies by the mask, DIEN takes a masked softmax).
    """

    def __init__(self, dim: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        inputs = 4 * dim
        for size in hidden:
            layers += [nn.Linear(inputs, size), nn.PReLU(size)]
            inputs = size
        layers.append(nn.Linear(inputs, 1))
        self.net = nn.Sequential(*layers)
        self.dim = dim

    def forward(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Scores (B, L) of `keys` (B, L, D) against `query` (B, D)."""
        length = keys.shape[1]
        q = query.unsqueeze(1).expand_as(keys)  # (B, L, D)
        pairs = torch.cat([keys, q, keys - q, keys * q], dim=-1)  # (B, L, 4D)
        # 2-D for the MLP: PReLU's per-channel slopes apply to dimension 1
        scores: torch.Tensor = self.net(pairs.reshape(-1, 4 * self.dim))  # (B * L, 1)
        return scores.reshape(-1, length)  # (B, L)


class DIN(nn.Module):
    """Deep Interest Network: logits (B,) from the six inputs of `sparrow.artifacts.inputs`."""

    def __init__(self, spec: FeatureSpec, config: DINConfig) -> None:
        super().__init__()
        self.spec = spec
        self.config = config
        d = config.dim
        self.embeddings = Embeddings(spec, d)
        self.attention = AttentionUnit(d, config.attention_hidden)
        user_numeric = len(range(spec.numeric)[USER_NUMERIC])
        movie_numeric = len(range(spec.numeric)[MOVIE_NUMERIC])
        # user emb, user genres, interest, candidate, movie genres (D each) + numerics
        self.mlp = MLP(5 * d + user_numeric + movie_numeric, config.hidden, config.dropout)

    def interest(self, candidate: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """Attended interest (B, D): behaviours weighted by their score against `candidate`.

        `candidate` (B, D) is the candidate movie's embedding, `history` (B, L) movie ids.
        Padded slots have weight exactly 0: an empty history gives exactly zero.
        """
        behaviours = self.embeddings.movie(history)  # (B, L, D)
        mask = (history != PAD).to(behaviours.dtype)  # (B, L)
        weights = self.attention(candidate, behaviours) * mask  # (B, L)
        interest: torch.Tensor = sum_fields(weights.unsqueeze(-1) * behaviours)  # (B, D)
        return interest

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        """Logits (B,) from ids (B,), genres (B, 3) / (B, 5), history (B, 5), numeric (B, 9)."""
        emb = self.embeddings
        candidate = emb.movie(movie_id)  # (B, D)
        features = [
            emb.user(user_id),  # (B, D)
            masked_mean(emb.genre(user_genres), user_genres),  # (B, D)
            numeric[:, USER_NUMERIC],  # (B, 5)
            self.interest(candidate, history),  # (B, D)
            candidate,  # (B, D)
            masked_mean(emb.genre(movie_genres), movie_genres),  # (B, D)
            numeric[:, MOVIE_NUMERIC],  # (B, 4)
        ]
        logits: torch.Tensor = self.mlp(torch.cat(features, dim=-1))  # (B, 1)
        return logits.squeeze(-1)  # (B,)
