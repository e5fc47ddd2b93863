"""Item sequences, skip-gram training and user vectors on constructed data with known answers."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from tests.fixtures import write_dataset

from sparrow.artifacts.vectors import Vectors, user_vectors
from sparrow.config import FeatureSettings
from sparrow.embedding.sequences import item_sequences, positive_history
from sparrow.embedding.skipgram import SkipGramConfig, train
from sparrow.features.pipeline import build


def test_sequences_hold_only_liked_training_ratings_in_time_order(tmp_path: Path) -> None:
    ratings = "userId,movieId,rating,timestamp\n" + "".join(
        f"{u},{m},{r},{t}\n"
        for u, m, r, t in [
            (1, 4, 4.0, 30),
            (1, 2, 5.0, 10),
            (1, 3, 2.0, 20),
            (1, 1, 4.5, 90),
            (2, 2, 3.5, 15),
            (2, 4, 4.0, 15),
            (3, 1, 5.0, 95),
        ]
    )
    data = write_dataset(tmp_path / "data", ratings)
    build(data, tmp_path / "b", FeatureSettings(test_fraction=0.3), progress=False)
    history = positive_history(tmp_path / "b")
    # cutoff: position floor(7 * 0.7) = 4 of the sorted times (10,15,15,20,30,90,95) -> 30
    assert history.to_pylist() == [
        {"user_id": 1, "item_id": 2, "ts": 10},
        {"user_id": 2, "item_id": 2, "ts": 15},
        {"user_id": 2, "item_id": 4, "ts": 15},
    ]
    assert [s.tolist() for s in item_sequences(history)] == [[2], [2, 4]]
    # movie 4 is liked once in the training period: min_count 2 leaves it out
    rare_out = positive_history(tmp_path / "b", min_count=2)
    assert [s.tolist() for s in item_sequences(rare_out)] == [[2], [2]]


def test_items_that_always_co_occur_are_nearest_neighbours() -> None:
    rng = np.random.default_rng(0)
    groups = [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]]  # items only ever seen together
    sequences = [rng.permutation(groups[i % 3]).astype(np.int64) for i in range(600)]
    config = SkipGramConfig(dim=16, window=3, epochs=5, min_count=1, sample=0, seed=1)
    items = train(sequences, config)
    unit = items.vectors / np.linalg.norm(items.vectors, axis=1, keepdims=True)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    group = {item: g for g, members in enumerate(groups) for item in members}
    for i, item in enumerate(items.ids):
        nearest = items.ids[np.argsort(-similarity[i])[:3]]
        assert {group[int(n)] for n in nearest} == {group[int(item)]}, (item, nearest)


def test_training_is_reproducible_for_a_seed() -> None:
    sequences = [np.array([1, 2, 3, 4, 5]), np.array([5, 4, 3]), np.array([2, 3, 1])] * 20
    config = SkipGramConfig(dim=8, epochs=3, min_count=1, seed=7)
    first, again = train(sequences, config), train(sequences, config)
    other = train(sequences, SkipGramConfig(dim=8, epochs=3, min_count=1, seed=8))
    assert np.array_equal(first.ids, again.ids)
    assert np.array_equal(first.vectors, again.vectors)
    assert not np.array_equal(first.vectors, other.vectors)


def test_nothing_frequent_enough_gives_no_vectors() -> None:
    items = train([np.array([1, 2])], SkipGramConfig(min_count=5))
    assert items.vectors.shape == (0, 64)


def test_user_vectors_are_weighted_means_and_skip_users_without_vectors() -> None:
    items = Vectors(np.array([10, 20, 30]), np.array([[1, 0], [0, 1], [1, 1]], np.float32))
    day = 86_400
    history = pa.table(
        {
            "user_id": [1, 1, 2, 3, 3],
            "item_id": [10, 20, 99, 30, 99],
            "ts": [0, 2 * day, 5, 7, 8],
        }
    )
    plain = user_vectors(history, items)
    assert plain.ids.tolist() == [1, 3]  # user 2 liked only a movie without a vector
    assert plain.vectors.tolist() == [[0.5, 0.5], [1.0, 1.0]]
    decayed = user_vectors(history, items, half_life_days=2)
    # movie 10 is one half-life older than movie 20: weights 0.5 and 1
    assert decayed.vectors[0] == pytest.approx([0.5 / 1.5, 1 / 1.5])


def test_next_item_evaluation_on_a_known_answer(tmp_path: Path) -> None:
    from sparrow.config import EmbeddingSettings
    from sparrow.embedding.evaluate import next_item
    from sparrow.embedding.pipeline import embed_items

    rng = np.random.default_rng(0)
    rows = []
    for u in range(1, 201):  # training: movies 1, 2 and 3 are liked together, in any order
        rows += [(u, m, 5.0, 1000 + 3 * u + i) for i, m in enumerate(rng.permutation([1, 2, 3]))]
    for u in range(201, 801):  # movies 10..13: more popular than movie 2, liked apart from it
        rows += [(u, m, 5.0, 3000 + 2 * u + i) for i, m in enumerate(rng.choice(4, 2, False) + 10)]
    for u in range(801, 811):  # test users: liked 3 then 1 before the cutoff, 2 after it
        rows += [(u, 3, 5.0, 5000 + u), (u, 1, 5.0, 6000 + u), (u, 2, 5.0, 9000 + u)]
    # a user new after the cutoff: liking 1 (nothing to go on) makes 2 predictable from it
    rows += [(811, 1, 5.0, 9500), (811, 2, 5.0, 9501)]
    data = tmp_path / "data"
    data.mkdir()
    (data / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n" + "".join(f"{u},{m},{r},{t}\n" for u, m, r, t in rows)
    )
    (data / "movies.csv").write_text(
        "movieId,title,genres\n"
        + "".join(f"{m},M{m} (2000),Drama\n" for m in (1, 2, 3, 10, 11, 12, 13))
    )
    build(data, tmp_path / "b", FeatureSettings(test_fraction=12 / len(rows)), progress=False)
    settings = EmbeddingSettings(dim=16, window=2, epochs=10, min_count=1, seed=3)
    embed_items(tmp_path / "b", "item2vec", settings)
    report = next_item(tmp_path / "b", ["item2vec"])
    assert report["popularity"]["targets"] == report["popularity"]["users"] == 11
    # popularity ranks movie 2 (liked 200 times) behind 10..13 (300 each): rank 5, and for user
    # 811, who has not seen movie 3 (liked 210 times), rank 6
    assert report["popularity"]["hr@10"] == 1.0
    assert report["popularity"]["ndcg@10"] == pytest.approx((10 / np.log2(6) + 1 / np.log2(7)) / 11)
    # movie 1's nearest unseen neighbour is movie 2, liked in the same sessions: rank 1
    assert report["item2vec (last item)"]["ndcg@10"] == 1.0
