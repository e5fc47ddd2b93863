"""Tiny learnable inputs for ranking-model tests, in the layout of `sparrow.artifacts.inputs`."""

import numpy as np

from sparrow.artifacts.inputs import FeatureSpec

SPEC = FeatureSpec(movies=42, users=22, genres=8)


def learnable(
    n: int = 2048, seed: int = 0, spec: FeatureSpec = SPEC, interaction: bool = True
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Inputs and labels. With `interaction`, a user likes a movie when their "taste" (user id
    parity) matches the movie's (movie id parity): only a model that crosses user and movie
    can learn it. Without, the label is a movie's fixed appeal: any model can learn it.

    Movie ids and users start at 2 (0 padding, 1 out-of-vocabulary); histories end in padding.
    """
    rng = np.random.default_rng(seed)
    movie = rng.integers(2, spec.movies, n)
    user = rng.integers(2, spec.users, n)
    history = rng.integers(2, spec.movies, (n, spec.history))
    lengths = rng.integers(0, spec.history + 1, n)
    history[np.arange(spec.history)[None, :] >= lengths[:, None]] = 0
    inputs = {
        "movie_id": movie,
        "user_id": user,
        "movie_genres": rng.integers(0, spec.genres, (n, spec.movie_genre_slots)),
        "user_genres": rng.integers(0, spec.genres, (n, spec.user_genre_slots)),
        "history": history,
        "numeric": rng.normal(size=(n, spec.numeric)).astype(np.float32),
    }
    inputs = {k: v.astype(np.int64) if k != "numeric" else v for k, v in inputs.items()}
    labels = movie % 2 == user % 2 if interaction else movie % 3 == 0
    return inputs, labels.astype(np.float32)
