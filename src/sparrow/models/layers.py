"""Blocks shared by the ranking models: embedding tables, masked pooling, MLPs; and the
numerics every training loop runs under."""

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from sparrow.artifacts.inputs import PAD, FeatureSpec


class MLP(nn.Sequential):
    """Linear -> ReLU -> Dropout for each hidden size, then a Linear to `out` (if given)."""

    def __init__(
        self, inputs: int, hidden: tuple[int, ...], dropout: float = 0.0, out: int | None = 1
    ) -> None:
        layers: list[nn.Module] = []
        for size in hidden:
            layers += [nn.Linear(inputs, size), nn.ReLU(), nn.Dropout(dropout)]
            inputs = size
        if out is not None:
            layers.append(nn.Linear(inputs, out))
        super().__init__(*layers)
        self.width = out if out is not None else inputs  # size of the last dimension out


class Embeddings(nn.Module):
    """One table per id family (movie, user, genre), padding rows fixed at zero.

    The candidate movie and the history share the movie table.
    """

    def __init__(self, spec: FeatureSpec, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.movie = table(spec.movies, dim)
        self.user = table(spec.users, dim)
        self.genre = table(spec.genres, dim)


def table(rows: int, dim: int) -> nn.Embedding:
    """An embedding table initialised N(0, 0.05), its padding row (0) zero and never trained."""
    embedding = nn.Embedding(rows, dim, padding_idx=PAD)
    nn.init.normal_(embedding.weight, std=0.05)
    with torch.no_grad():
        embedding.weight[PAD].zero_()
    return embedding


def sum_fields(x: torch.Tensor) -> torch.Tensor:
    """Σ over the middle dimension of (B, K, D) `x`: (B, D).

    Exported to ONNX as a matrix product with K stacked identities: ONNX Runtime's ReduceSum
    over a middle axis costs about 0.15 µs per row whatever K and D (0.1 ms for 800
    candidates, each time; the DeepFM graph had 13), a MatMul a third of that. PyTorch's own
    sum is the faster one in training.
    """
    if not torch.onnx.is_in_onnx_export():
        return x.sum(1)
    _, k, d = x.shape
    return x.flatten(1) @ torch.eye(d, dtype=x.dtype, device=x.device).repeat(k, 1)


def masked_mean(vectors: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Mean of (B, L, D) `vectors` over the positions whose `ids` (B, L) are not padding: (B, D).

    A row of padding only gives zeros. (nn.EmbeddingBag would do this, but it exports to ONNX as
    a slow loop; this is plain arithmetic.)
    """
    mask = (ids != PAD).to(vectors.dtype)  # (B, L)
    return sum_fields(vectors * mask.unsqueeze(-1)) / mask.sum(1, keepdim=True).clamp(min=1.0)


class Fields(nn.Module):
    """The id inputs as one D-vector per field: (B, 5, D).

    Fields, in order: candidate movie, user, movie genres, user genres, history; the last three
    are mean-pooled over their non-padding slots. Models add their own numeric field.
    """

    count = 5

    def __init__(self, spec: FeatureSpec, dim: int) -> None:
        super().__init__()
        self.embeddings = Embeddings(spec, dim)

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
    ) -> torch.Tensor:
        e = self.embeddings
        return torch.stack(
            [
                e.movie(movie_id),  # (B, D)
                e.user(user_id),
                masked_mean(e.genre(movie_genres), movie_genres),
                masked_mean(e.genre(user_genres), user_genres),
                masked_mean(e.movie(history), history),
            ],
            dim=1,
        )  # (B, 5, D)


class LinearTerm(nn.Module):
    """First-order score (logistic regression): one weight per id, pooled as in `Fields` and
    summed, plus a linear map of the numeric features, plus a bias: (B,).
    """

    def __init__(self, spec: FeatureSpec) -> None:
        super().__init__()
        self.fields = Fields(spec, 1)
        self.numeric = nn.Linear(spec.numeric, 1)

    def forward(
        self,
        movie_id: torch.Tensor,
        user_id: torch.Tensor,
        movie_genres: torch.Tensor,
        user_genres: torch.Tensor,
        history: torch.Tensor,
        numeric: torch.Tensor,
    ) -> torch.Tensor:
        ids: torch.Tensor = self.fields(movie_id, user_id, movie_genres, user_genres, history)
        linear: torch.Tensor = self.numeric(numeric)  # (B, 1)
        return ids.flatten(1).sum(1) + linear.squeeze(-1)  # (B,): ids is (B, 5, 1)


@contextmanager
def flush_denormals() -> Iterator[None]:
    """Treat denormal floats as zero meanwhile: Adam's moments of rarely batched embedding rows
    decay into denormals, which made later epochs about 5x slower on CPU."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
