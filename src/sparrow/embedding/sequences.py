"""What embeddings learn from: each user's positively rated movies, in time order.

Only the build's training ratings are used (`catalog/ratings.parquet`, split "train"), so no
rating from the test period, nor any after `--until`, reaches an embedding used for evaluation.
"""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.artifacts.layout import BuildDir


def positive_threshold(build: Path) -> float:
    """The build's label threshold (rating >= threshold is positive)."""
    return BuildDir(build).manifest().definitions.positive_threshold


def positive_history(build: Path, min_count: int = 1) -> pa.Table:
    """user_id, item_id, ts of the training split's positive ratings, sorted by (user, ts, item).

    With `min_count`, only movies liked at least that many times: rarer ones are left out of the
    sequences (as gensim leaves rare words out of sentences) and of the transition graph.
    """
    layout = BuildDir(build)
    ratings = layout.read(
        layout.catalog("ratings"), columns=["user_id", "item_id", "rating", "ts", "split"]
    )
    keep = pc.and_(
        pc.equal(ratings["split"], "train"),
        pc.greater_equal(ratings["rating"], positive_threshold(build)),
    )
    liked = ratings.filter(keep).select(["user_id", "item_id", "ts"])
    if min_count > 1:
        counts = liked.group_by("item_id").aggregate([("item_id", "count")])
        frequent = counts.filter(pc.greater_equal(counts["item_id_count"], min_count))["item_id"]
        liked = liked.filter(pc.is_in(liked["item_id"], frequent))
    return liked.sort_by([("user_id", "ascending"), ("ts", "ascending"), ("item_id", "ascending")])


def item_sequences(history: pa.Table) -> list[np.ndarray]:
    """One int64 array of movieIds per user of a table sorted by user (`positive_history`)."""
    users = history["user_id"].to_numpy()
    items = history["item_id"].to_numpy().astype(np.int64)
    cuts = np.flatnonzero(users[1:] != users[:-1]) + 1
    return [seq for seq in np.split(items, cuts) if len(seq)]
