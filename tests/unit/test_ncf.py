"""The NCF protocol on synthetic clustered users: split, negative sampling, learning, seeding."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from sparrow.evaluation.ncf import _train_negatives, load_split, ncf_protocol, sample_negatives

CLUSTERS, USERS_PER_CLUSTER, ITEMS_PER_CLUSTER, TAKEN = 3, 20, 60, 50


def write_build(root: Path, seed: int = 0) -> Path:
    """A build-like folder: each user interacts with TAKEN of their cluster's items, one a
    second (the last two share a timestamp: the larger item id is the last); user 999 has a
    single interaction; items.parquet also lists an item nobody rated."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, float, int]] = []
    for user in range(1, CLUSTERS * USERS_PER_CLUSTER + 1):
        cluster = (user - 1) % CLUSTERS
        items = 1 + cluster * ITEMS_PER_CLUSTER + rng.permutation(ITEMS_PER_CLUSTER)[:TAKEN]
        ts = np.arange(TAKEN) + 1000 * user
        ts[-1] = ts[-2]
        rows += [
            (user, int(i), float(rng.integers(1, 6)), int(t))
            for i, t in zip(items, ts, strict=True)
        ]
    rows.append((999, 1, 4.0, 5))
    users, items, ratings, ts = zip(*rows, strict=True)
    catalog = root / "catalog"
    catalog.mkdir(parents=True)
    ratings_table = pa.table(
        {
            "user_id": pa.array(users, pa.int32()),
            "item_id": pa.array(items, pa.int32()),
            "rating": pa.array(ratings, pa.float32()),
            "ts": pa.array(ts, pa.int64()),
            "split": pa.array(["train"] * len(rows)),
        }
    )
    pq.write_table(ratings_table, catalog / "ratings.parquet")
    n_items = CLUSTERS * ITEMS_PER_CLUSTER + 1  # the last one is never rated
    genres = [[f"G{(i - 1) // ITEMS_PER_CLUSTER}", "Drama"] for i in range(1, n_items + 1)]
    genres[0] = ["A", "B", "C", "D"]  # more than the 3 slots
    genres[1] = []
    items_table = pa.table(
        {
            "item_id": pa.array(range(1, n_items + 1), pa.int32()),
            "title": [f"movie {i}" for i in range(1, n_items + 1)],
            "year": pa.array([2000] * n_items, pa.int32()),
            "genres": pa.array(genres, pa.list_(pa.string())),
        }
    )
    pq.write_table(items_table, catalog / "items.parquet")
    return root


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    return write_build(tmp_path_factory.mktemp("ncf"))


def test_each_users_last_interaction_is_held_out(build: Path) -> None:
    ratings = pq.read_table(build / "catalog" / "ratings.parquet").to_pylist()
    split = load_split(build)
    assert split.n_users == CLUSTERS * USERS_PER_CLUSTER + 1
    assert split.n_items == CLUSTERS * ITEMS_PER_CLUSTER  # only rated items
    assert len(split.test_users) == CLUSTERS * USERS_PER_CLUSTER  # not the single-rating user
    assert len(split.train_users) == len(ratings) - len(split.test_users)
    last: dict[int, tuple[int, int]] = {}
    for r in ratings:
        last[r["user_id"]] = max(last.get(r["user_id"], (-1, -1)), (r["ts"], r["item_id"]))
    # indices are ranks of the sorted raw ids: users 1..60 then 999, items 1..180
    held = {int(u) + 1: int(i) + 1 for u, i in zip(split.test_users, split.test_items, strict=True)}
    assert held == {user: item for user, (_, item) in last.items() if user != 999}
    train = set(zip(split.train_users.tolist(), split.train_items.tolist(), strict=True))
    assert not train & set(zip(split.test_users.tolist(), split.test_items.tolist(), strict=True))
    assert split.genres.shape == (split.n_items, 3)
    assert (split.genres[0] > 0).all() and (split.genres[1] == 0).all()


def test_negatives_are_never_interacted_items() -> None:
    rng = np.random.default_rng(3)
    n_items = 150
    seen = [rng.choice(n_items, size, replace=False) for size in (1, 20, 51, 0, 30)]
    negatives = sample_negatives(seen, n_items, 99, np.random.default_rng(7))
    assert negatives.shape == (len(seen), 99)
    for row, items in zip(negatives, seen, strict=True):
        assert len(np.unique(row)) == 99  # distinct
        assert not np.isin(row, items).any()
        assert ((row >= 0) & (row < n_items)).all()
    again = sample_negatives(seen, n_items, 99, np.random.default_rng(7))
    np.testing.assert_array_equal(negatives, again)
    with pytest.raises(ValueError, match="unseen"):
        sample_negatives([np.arange(52)], n_items, 99, rng)


def test_training_negatives_are_never_training_interactions() -> None:
    rng = np.random.default_rng(5)
    n_items = 10
    users = np.repeat(np.arange(4), 8)  # each user has 8 of the 10 items
    items = np.concatenate([rng.choice(n_items, 8, replace=False) for _ in range(4)])
    keys = np.sort(users * n_items + items)
    drawn = _train_negatives(keys, np.repeat(users, 4), n_items, rng)
    assert not np.isin(np.repeat(users, 4) * n_items + drawn, keys).any()


def test_models_learn_the_clusters_and_beat_popularity(build: Path) -> None:
    results = ncf_protocol(build, models=("neumf", "mf", "two_tower"), epochs=25, progress=False)
    popularity = results["popularity"]["hr@10"]
    assert popularity < 0.5
    for name in ("neumf", "mf"):
        assert results[name]["hr@10"] >= 0.9, results
        assert results[name]["hr@10"] > popularity + 0.4
        assert results[name]["ndcg@10"] > results["popularity"]["ndcg@10"]
    assert results["two_tower"]["hr@10"] > popularity
    for row in results.values():
        assert row["users"] == CLUSTERS * USERS_PER_CLUSTER
        assert row["seconds"] >= 0


def test_same_seed_same_results(build: Path) -> None:
    def run(seed: int) -> dict[str, dict[str, float]]:
        results = ncf_protocol(build, models=("mf", "neumf"), seed=seed, epochs=2, progress=False)
        return {
            name: {k: v for k, v in row.items() if k != "seconds"} for name, row in results.items()
        }

    first = run(11)
    assert first == run(11)
    assert first != run(12)
