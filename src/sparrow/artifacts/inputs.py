"""What every ranking model reads: six named input tensors, and the sizes of their vocabularies.

Inputs (B = batch; ids are vocabulary indices, 0 is padding, 1 out-of-vocabulary):

    movie_id      int64   (B,)     the candidate movie
    user_id       int64   (B,)
    movie_genres  int64   (B, 3)   the movie's genres (movieGenre1..3)
    user_genres   int64   (B, 5)   the user's favourite genres (userGenre1..5)
    history       int64   (B, 5)   the user's recent liked movies, most recent first
                                   (userRatedMovie1..5), in the movie vocabulary
    numeric       float32 (B, 9)   NUMERIC, normalised on the training data

Every model's `forward` takes them in this order and returns logits (B,). This module imports
no torch: serving builds the same inputs with `sparrow.artifacts.encoders`.
"""

from dataclasses import dataclass

from sparrow.artifacts.schema import MOVIE_GENRE_SLOTS, USER_GENRE_SLOTS, USER_MOVIE_SLOTS

INPUTS = ("movie_id", "user_id", "movie_genres", "user_genres", "history", "numeric")
NUMERIC = (
    "releaseYear",
    "movieRatingCount",
    "movieAvgRating",
    "movieRatingStddev",
    "userRatingCount",
    "userAvgReleaseYear",
    "userReleaseYearStddev",
    "userAvgRating",
    "userRatingStddev",
)
MOVIE_NUMERIC = slice(0, 4)  # the candidate movie's columns of `numeric`
USER_NUMERIC = slice(4, 9)  # the user's
PAD, OOV = 0, 1


@dataclass(frozen=True)
class FeatureSpec:
    """Vocabulary sizes (each counting padding and out-of-vocabulary) and slot counts."""

    movies: int
    users: int
    genres: int
    numeric: int = len(NUMERIC)
    movie_genre_slots: int = MOVIE_GENRE_SLOTS
    user_genre_slots: int = USER_GENRE_SLOTS
    history: int = USER_MOVIE_SLOTS
