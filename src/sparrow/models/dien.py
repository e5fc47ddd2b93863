"""DIEN, Deep Interest Evolution Network (Zhou et al. 2019).

An interest extractor GRU runs over the history in time order (oldest -> newest); the candidate
attends over its states (softmax over the valid steps); an AUGRU, whose update gate is scaled by
that attention, evolves the interest; its final state joins the candidate, the user profile and
the context in an MLP. During training an auxiliary loss makes each extractor state predict the
next behaviour against a sampled negative.

Unlike the original course code, the label is never an input (serving calls `forward` with the six
inputs of `artifacts.inputs`), the auxiliary loss is a proper binary cross-entropy (>= 0) that the
training loop adds, and padded history slots change nothing.
"""

from dataclasses import dataclass

import torch
from torch import nn

from sparrow.artifacts.inputs import MOVIE_NUMERIC, PAD, USER_NUMERIC, FeatureSpec
from sparrow.models.din import AttentionUnit
from sparrow.models.layers import MLP, Embeddings, masked_mean

_MASKED = -1e9  # added to the attention scores of padded steps before the softmax


@dataclass(frozen=True)
class DIENConfig:
    """Sizes of the DIEN (defaults for MovieLens ml-latest-small)."""

    dim: int = 16  # embedding size of movies, users and genres
    interest: int = 16  # hidden size of the extractor GRU and of the AUGRU
    attention_hidden: tuple[int, ...] = (64,)  # activation-unit hidden sizes (PReLU)
    aux_hidden: tuple[int, ...] = (32,)  # auxiliary scorer of [state, next behaviour]
    hidden: tuple[int, ...] = (128, 64)  # top MLP
    dropout: float = 0.1  # top MLP
    aux_weight: float = 0.5  # weight of `auxiliary_loss` in the training loss


class AUGRUCell(nn.Module):
    """GRU cell with attentional update gate: u' = a * u, h = (1 - u') * h_prev + u' * h~."""

    def __init__(self, inputs: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.x = nn.Linear(inputs, 3 * hidden)  # reset, update, candidate: input parts
        self.h = nn.Linear(hidden, 3 * hidden)  # and hidden parts

    def forward(self, x: torch.Tensor, h: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Next state (B, H) from input `x` (B, I), state `h` (B, H), `attention` (B, 1)."""
        xr, xu, xn = self.x(x).chunk(3, dim=-1)  # (B, H) each
        hr, hu, hn = self.h(h).chunk(3, dim=-1)  # (B, H) each
        reset = torch.sigmoid(xr + hr)
        update = attention * torch.sigmoid(xu + hu)
        candidate = torch.tanh(xn + reset * hn)
        return (1.0 - update) * h + update * candidate


class DIEN(nn.Module):
    """Deep Interest Evolution Network: logits (B,) from the six inputs of `artifacts.inputs`."""

    def __init__(self, spec: FeatureSpec, config: DIENConfig) -> None:
        super().__init__()
        self.spec = spec
        self.config = config
        d, k = config.dim, config.interest
        self.embeddings = Embeddings(spec, d)
        self.extractor = nn.GRUCell(d, k)
        self.query = nn.Linear(d, k, bias=False)  # candidate embedding -> interest space
        self.attention = AttentionUnit(k, config.attention_hidden)
        self.evolution = AUGRUCell(k, k)
        self.aux = MLP(k + d, config.aux_hidden)
        user_numeric = len(range(spec.numeric)[USER_NUMERIC])
        movie_numeric = len(range(spec.numeric)[MOVIE_NUMERIC])
        # final state (K); candidate, user emb, user genres, movie genres (D each); numerics
        self.mlp = MLP(k + 4 * d + user_numeric + movie_numeric, config.hidden, config.dropout)

    def interest_states(self, history: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Extractor states (B, L, K) and validity mask (B, L), both in time order.

        `history` (B, L) is most recent first with padding at the end; flipped, it runs oldest ->
        newest with the padding first. A padded step keeps the previous state (the initial zeros),
        so the last state is always the one after the newest behaviour.
        """
        timeline = history.flip(1)  # (B, L), oldest -> newest
        behaviours = self.embeddings.movie(timeline)  # (B, L, D)
        mask = (timeline != PAD).to(behaviours.dtype)  # (B, L)
        h = behaviours.new_zeros(history.shape[0], self.config.interest)  # (B, K)
        states = []
        for t in range(self.spec.history):  # static length: unrolled in ONNX
            m = mask[:, t : t + 1]  # (B, 1)
            h = m * self.extractor(behaviours[:, t], h) + (1.0 - m) * h
            states.append(h)
        return torch.stack(states, dim=1), mask

    def evolve(self, candidate: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
        """Final evolved interest (B, K) for the `candidate` embedding (B, D) and `history`."""
        states, mask = self.interest_states(history)  # (B, L, K), (B, L)
        scores = self.attention(self.query(candidate), states)  # (B, L)
        # softmax over the valid steps: exp(-1e9) is exactly 0; an empty history weighs nothing
        weights = torch.softmax(scores + (1.0 - mask) * _MASKED, dim=1) * mask  # (B, L)
        h = torch.zeros_like(states[:, 0])  # (B, K)
        for t in range(self.spec.history):
            m = mask[:, t : t + 1]  # (B, 1)
            h = m * self.evolution(states[:, t], h, weights[:, t : t + 1]) + (1.0 - m) * h
        return h

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
            self.evolve(candidate, history),  # (B, K)
            candidate,  # (B, D)
            emb.user(user_id),  # (B, D)
            masked_mean(emb.genre(user_genres), user_genres),  # (B, D)
            numeric[:, USER_NUMERIC],  # (B, 5)
            masked_mean(emb.genre(movie_genres), movie_genres),  # (B, D)
            numeric[:, MOVIE_NUMERIC],  # (B, 4)
        ]
        logits: torch.Tensor = self.mlp(torch.cat(features, dim=-1))  # (B, 1)
        return logits.squeeze(-1)  # (B,)

    def auxiliary_loss(
        self, inputs: dict[str, torch.Tensor], negatives: torch.Tensor
    ) -> torch.Tensor:
        """Next-behaviour binary cross-entropy (scalar, >= 0), averaged over the valid steps.

        `inputs` holds at least "history" (B, L); `negatives` (B, L) int64 are sampled movie ids
        laid out like `history`: negatives[:, j] is the negative for the behaviour history[:, j]
        (a real movie, != history[:, j]). The extractor state after each behaviour scores the
        next one (positive) and its negative; a pair counts only when both behaviours are real, so
        negatives in padded slots and at the oldest behaviour are ignored. The training loss is
        BCE(forward) + config.aux_weight * auxiliary_loss.
        """
        history = inputs["history"]
        states, mask = self.interest_states(history)  # (B, L, K), (B, L) in time order
        before = states[:, :-1]  # (B, L-1, K): the state after step t
        positive = self.embeddings.movie(history.flip(1)[:, 1:])  # (B, L-1, D): step t+1
        negative = self.embeddings.movie(negatives.flip(1)[:, 1:])  # (B, L-1, D)
        valid = mask[:, :-1] * mask[:, 1:]  # (B, L-1)
        pos = self.aux(torch.cat([before, positive], dim=-1)).squeeze(-1)  # (B, L-1) logits
        neg = self.aux(torch.cat([before, negative], dim=-1)).squeeze(-1)  # (B, L-1)
        bce = nn.functional.binary_cross_entropy_with_logits
        loss = bce(pos, torch.ones_like(pos), reduction="none") + bce(
            neg, torch.zeros_like(neg), reduction="none"
        )  # (B, L-1)
        return (loss * valid).sum() / valid.sum().clamp(min=1.0)
